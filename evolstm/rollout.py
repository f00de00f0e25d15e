"""The one place that steps Gymnasium envs with a population policy: seeded resets, lockstep steps, done masking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium
import numpy as np
import torch
from torch import Tensor

from evolstm.normalization import ObsNorm, ObsStats
from evolstm.policies import PolicySpec, PopulationPolicy, select_action

#: head outputs [P, E, A] -> (actions for the envs, what to record as the action taken), both [P, E, ...]
ActionFn = Callable[[Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class Trajectories:
    """Padded episodes, time first: inputs as the policy saw them [T, N, obs], recorded actions, rewards, validity."""

    inputs: Tensor
    actions: Tensor
    rewards: Tensor
    valid: Tensor


class EpisodeError(RuntimeError):
    """An env raised while playing a member's episode; names the env, the member and the episode."""

    def __init__(self, env_id: str, member: int, episode: int, cause: str) -> None:
        super().__init__(f"env {env_id} raised in member {member}, episode {episode}: {cause}")
        self.env_id, self.member, self.episode, self.cause = env_id, member, episode, cause

    def __reduce__(self) -> tuple:  # keeps its fields across processes (Ray)
        return (EpisodeError, (self.env_id, self.member, self.episode, self.cause))

    def shifted(self, offset: int) -> EpisodeError:
        """The same error with the member counted from `offset` (a worker's share starts there)."""
        return EpisodeError(self.env_id, self.member + offset, self.episode, self.cause)


@dataclass(frozen=True)
class EpisodeResults:
    """What a batch of episodes produced: per-member, per-episode returns and lengths, and observation statistics."""

    returns: np.ndarray  # [P, E] float64
    lengths: np.ndarray  # [P, E] int64
    obs_stats: ObsStats
    trajectories: Trajectories | None = None  # recorded for policy-gradient training (one member)

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())


def greedy(spec: PolicySpec) -> ActionFn:
    """Deterministic actions (argmax or squashed mean), as ES evaluates and replays policies."""

    def act(out: Tensor) -> tuple[Tensor, Tensor]:
        action = select_action(spec, out)
        return action, action

    return act


@torch.no_grad()
def run_episodes(
    envs: list[gymnasium.Env],
    policy: PopulationPolicy,
    seeds: np.ndarray,
    norm: ObsNorm,
    act: ActionFn | None = None,
    record: bool = False,
) -> EpisodeResults:
    """Play one episode in each env, env p * E + e for member p with seed seeds[p, e], all members in lockstep.

    The policy steps the whole [P, E] batch each time (one batched call); only unfinished envs are stepped, so every
    episode ends exactly at its own termination or truncation and no env is auto-reset. `act` turns head outputs into
    actions (greedy by default); with `record` the padded trajectories come back too.
    """
    act = act or greedy(policy.spec)
    members, episodes = seeds.shape
    count = members * episodes
    if len(envs) < count:
        raise ValueError(f"need {count} envs, got {len(envs)}")
    obs = np.stack([env.reset(seed=int(seed))[0] for env, seed in zip(envs, seeds.reshape(-1))]).astype(np.float32)
    stats_sum, stats_sq = obs.sum(0, dtype=np.float64), np.square(obs, dtype=np.float64).sum(0)
    returns = np.zeros(count)
    lengths = np.zeros(count, dtype=np.int64)
    steps: list[tuple[Tensor, Tensor, np.ndarray, np.ndarray]] = []
    active = list(range(count))
    state = policy.initial_state(episodes)
    normalize = norm.on("cpu")
    while active:
        x = normalize(torch.from_numpy(obs).view(members, episodes, -1))
        out, state = policy.step(x, state)
        env_actions, taken = act(out)
        env_actions = env_actions.reshape(count, *env_actions.shape[2:]).numpy()
        rewards = np.zeros(count, dtype=np.float32)
        valid = np.zeros(count, dtype=bool)
        valid[active] = True
        still = []
        for i in active:
            try:
                next_obs, reward, terminated, truncated, _ = envs[i].step(env_actions[i])
            except Exception as err:  # an env's own failure: say whose episode it was
                env_id = envs[i].spec.id if envs[i].spec else type(envs[i].unwrapped).__name__
                raise EpisodeError(env_id, i // episodes, i % episodes, f"{type(err).__name__}: {err}") from err
            rewards[i] = reward
            returns[i] += float(reward)
            lengths[i] += 1
            if not (terminated or truncated):
                obs[i] = next_obs
                still.append(i)
        if record:
            steps.append((x.reshape(count, -1), taken.reshape(count, *taken.shape[2:]), rewards, valid))
        if still:
            seen = obs[still].astype(np.float64)
            stats_sum += seen.sum(0)
            stats_sq += np.square(seen).sum(0)
        active = still
    stats = ObsStats(stats_sum, stats_sq, int(lengths.sum()))  # resets + non-final steps
    trajectories = None
    if record:
        inputs, taken, rewards, valid = zip(*steps)
        trajectories = Trajectories(
            torch.stack(inputs), torch.stack(taken), torch.from_numpy(np.stack(rewards)),
            torch.from_numpy(np.stack(valid)),
        )
    return EpisodeResults(returns.reshape(members, episodes), lengths.reshape(members, episodes), stats, trajectories)
