"""THE rollout loop: a population policy steps a vector env (per-env envs in lockstep, or a torch-batched task) with
seeded resets, masking finished episodes, gathering returns, lengths, observation statistics and trajectories.

The vector env has autoreset disabled and keeps stepping (or, in lockstep, skips) finished episodes; they are masked
out here, so the loop has no data-dependent indexing. On a GPU it copies to the host only to check, every
`SYNC_EVERY` steps, whether any episode is still running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from evolstm.lockstep import EnvStepError
from evolstm.normalization import ObsNorm, ObsStats
from evolstm.policies import PolicySpec, State
from evolstm.sampling import ActionFn, greedy

SYNC_EVERY = 16


class VectorEnv(Protocol):
    """What the loop needs of a vector env: seeded reset and step, tensors in and out (on the env's device)."""

    num_envs: int

    def reset(self, *, seed: list[int]) -> tuple[Tensor, dict[str, Any]]: ...

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]: ...


class SteppedPolicy(Protocol):
    """What the loop needs of a population policy: obs [P, B, obs] -> head outputs [P, B, A], state in and out."""

    spec: PolicySpec

    def initial_state(self, batch: int) -> State: ...

    def step(self, obs: Tensor, state: State) -> tuple[Tensor, State]: ...


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

    def shifted(self, members: int = 0, episodes: int = 0) -> EpisodeError:
        """The same error counted from a share's first member and episode."""
        return EpisodeError(self.env_id, self.member + members, self.episode + episodes, self.cause)


@dataclass(frozen=True)
class EpisodeResults:
    """What a batch of episodes produced: per-member, per-episode returns and lengths, and observation statistics."""

    returns: np.ndarray  # [P, E] float64
    lengths: np.ndarray  # [P, E] int64
    obs_stats: ObsStats
    trajectories: Trajectories | None = None  # recorded when collecting episodes for learning

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())


@torch.no_grad()
def play(
    envs: VectorEnv,
    policy: SteppedPolicy,
    seeds: np.ndarray,
    norm: ObsNorm,
    act: ActionFn | None = None,
    record: bool = False,
) -> EpisodeResults:
    """Play one episode in each env, env p * E + e for member p with seed seeds[p, e], all members in lockstep.

    `act` turns head outputs into actions (greedy by default); with `record` the padded trajectories come back too.
    """
    act = act or greedy(policy.spec)
    members, episodes = seeds.shape
    count = members * episodes
    try:
        obs = envs.reset(seed=[int(s) for s in seeds.reshape(-1)])[0]
    except EnvStepError as err:
        raise EpisodeError(err.env_id, err.index // episodes, err.index % episodes, err.cause) from err
    device = obs.device
    normalize = norm.on(device)
    alive = torch.ones(count, dtype=torch.bool, device=device)
    returns = torch.zeros(count, dtype=torch.float64, device=device)
    lengths = torch.zeros(count, dtype=torch.int64, device=device)
    seen_sum, seen_sq = obs.double().sum(0), obs.double().square().sum(0)
    steps: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
    state = policy.initial_state(episodes)
    sync_every = 1 if device.type == "cpu" else SYNC_EVERY  # a host check is free on the CPU
    t = 0
    while True:
        x = normalize(obs.view(members, episodes, -1))
        out, state = policy.step(x, state)
        env_actions, taken = act(out, t)
        try:
            obs, reward, terminated, truncated, _ = envs.step(env_actions.reshape(count, *env_actions.shape[2:]))
        except EnvStepError as err:
            raise EpisodeError(err.env_id, err.index // episodes, err.index % episodes, err.cause) from err
        returns += reward * alive
        lengths += alive
        if record:
            steps.append(
                (x.reshape(count, -1), taken.reshape(count, *taken.shape[2:]), (reward * alive).float(), alive)
            )
        alive = alive & ~(terminated | truncated)
        kept = obs.double() * alive.unsqueeze(1)
        seen_sum += kept.sum(0)
        seen_sq += (kept * kept).sum(0)  # alive is 0 or 1, so kept^2 = obs^2 * alive
        t += 1
        if t % sync_every == 0 and not bool(alive.any()):
            break
    stats = ObsStats(seen_sum.cpu().numpy(), seen_sq.cpu().numpy(), int(lengths.sum()))
    trajectories = None
    if record:
        inputs, taken, rewards, valid = (torch.stack(part) for part in zip(*steps))
        last = int(valid.any(dim=1).nonzero().max()) + 1  # drop the trailing steps where all had ended
        trajectories = Trajectories(inputs[:last], taken[:last], rewards[:last], valid[:last])
    shape = (members, episodes)
    return EpisodeResults(returns.view(shape).cpu().numpy(), lengths.view(shape).cpu().numpy(), stats, trajectories)
