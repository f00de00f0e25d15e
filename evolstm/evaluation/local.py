"""Evaluate a population in this process: one Gymnasium env per (member, episode), all stepped in lockstep."""

from __future__ import annotations

import gymnasium
import numpy as np
import torch
from torch import Tensor

from evolstm.config import TaskConfig
from evolstm.environment import make_env
from evolstm.normalization import ObsNorm
from evolstm.policies import PolicySpec, PopulationPolicy
from evolstm.rollout import EpisodeResults, run_episodes
from evolstm.sampling import Sampling


class LocalEvaluator:
    """Keeps its envs between generations (made once, reset with derived seeds) and runs any Gymnasium id."""

    def __init__(self, task: TaskConfig, spec: PolicySpec) -> None:
        self.task = task
        self.spec = spec
        self.device = torch.device("cpu")
        self._envs: list[gymnasium.Env] = []

    def evaluate(
        self, params: Tensor, seeds: np.ndarray, norm: ObsNorm, sampling: Sampling | None = None
    ) -> EpisodeResults:
        """Play seeds.shape[1] episodes for each of the params.shape[0] members."""
        while len(self._envs) < seeds.size:
            self._envs.append(make_env(self.task))
        policy = PopulationPolicy(self.spec, params.detach().float().cpu())
        act = sampling.action_fn(self.spec) if sampling else None
        return run_episodes(self._envs, policy, seeds, norm, act=act, record=sampling is not None)

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs.clear()
