"""Evaluate a population in this process: one Gymnasium env per (member, episode), all stepped in lockstep."""

from __future__ import annotations

import gymnasium
import numpy as np
from torch import Tensor

from evolstm.config import TaskConfig
from evolstm.environment import make_env
from evolstm.normalization import ObsNorm
from evolstm.policies import PolicySpec, PopulationPolicy
from evolstm.rollout import EpisodeResults, run_episodes


class LocalEvaluator:
    """Keeps its envs between generations (made once, reset with derived seeds) and runs any Gymnasium id."""

    def __init__(self, task: TaskConfig, spec: PolicySpec) -> None:
        self.task = task
        self.spec = spec
        self._envs: list[gymnasium.Env] = []

    def evaluate(self, params: Tensor, seeds: np.ndarray, norm: ObsNorm) -> EpisodeResults:
        """Play seeds.shape[1] episodes for each of the params.shape[0] members."""
        needed = seeds.size
        while len(self._envs) < needed:
            self._envs.append(make_env(self.task))
        return run_episodes(self._envs, PopulationPolicy(self.spec, params.float().cpu()), seeds, norm)

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs.clear()
