"""The one place that steps Gymnasium envs with a population policy: seeded resets, lockstep steps, done masking."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium
import numpy as np
import torch

from evolstm.normalization import ObsNorm, ObsStats
from evolstm.policies import PopulationPolicy, select_action


@dataclass(frozen=True)
class EpisodeResults:
    """What a batch of episodes produced: per-member, per-episode returns and lengths, and observation statistics."""

    returns: np.ndarray  # [P, E] float64
    lengths: np.ndarray  # [P, E] int64
    obs_stats: ObsStats

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())


@torch.no_grad()
def run_episodes(
    envs: list[gymnasium.Env], policy: PopulationPolicy, seeds: np.ndarray, norm: ObsNorm
) -> EpisodeResults:
    """Play one episode in each env, env p * E + e for member p with seed seeds[p, e], all members in lockstep.

    The policy steps the whole [P, E] batch each time (one batched call); only unfinished envs are stepped, so every
    episode ends exactly at its own termination or truncation and no env is auto-reset.
    """
    members, episodes = seeds.shape
    count = members * episodes
    if len(envs) < count:
        raise ValueError(f"need {count} envs, got {len(envs)}")
    obs = np.stack([env.reset(seed=int(seed))[0] for env, seed in zip(envs, seeds.reshape(-1))]).astype(np.float32)
    stats_sum, stats_sq = obs.sum(0, dtype=np.float64), np.square(obs, dtype=np.float64).sum(0)
    returns = np.zeros(count)
    lengths = np.zeros(count, dtype=np.int64)
    active = list(range(count))
    state = policy.initial_state(episodes)
    while active:
        x = norm.apply(torch.from_numpy(obs).view(members, episodes, -1))
        out, state = policy.step(x, state)
        actions = select_action(policy.spec, out)
        actions = actions.reshape(count, *actions.shape[2:]).numpy()
        still = []
        for i in active:
            next_obs, reward, terminated, truncated, _ = envs[i].step(actions[i])
            returns[i] += float(reward)
            lengths[i] += 1
            if not (terminated or truncated):
                obs[i] = next_obs
                still.append(i)
        if still:
            seen = obs[still].astype(np.float64)
            stats_sum += seen.sum(0)
            stats_sq += np.square(seen).sum(0)
        active = still
    stats = ObsStats(stats_sum, stats_sq, int(lengths.sum()))  # resets + non-final steps
    return EpisodeResults(returns.reshape(members, episodes), lengths.reshape(members, episodes), stats)
