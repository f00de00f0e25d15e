"""What every trainer shares: budget and early stop, greedy evaluation of the current policy, observation statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from evolstm.config import Experiment
from evolstm.evaluation import Evaluator
from evolstm.normalization import ObsNorm, ObsStats
from evolstm.seeding import episode_seeds


@dataclass(frozen=True)
class Exported:
    """A policy ready to export: flat parameters and the normalizer it acts under."""

    params: torch.Tensor
    norm: ObsNorm


class Trainer:
    """A training loop cut into steps (ES generations, REINFORCE iterations); `step` returns that step's metrics."""

    def __init__(self, experiment: Experiment, evaluator: Evaluator, obs_dim: int) -> None:
        self.seed = experiment.seed
        self.eval_cfg = experiment.evaluation
        self.evaluator = evaluator
        self.obs_norm = experiment.policy.obs_norm
        self.stats = ObsStats.empty(obs_dim)
        self.norm = ObsNorm.identity(obs_dim)
        self.generation = 0  # completed steps
        self.env_steps = 0
        self._budget = experiment.trainer.budget
        self._max_env_steps = experiment.trainer.max_env_steps
        self._stop_at = experiment.trainer.stop_at
        self._reached = False
        self.best: tuple[float, Exported] | None = None  # highest return noted so far, and its policy

    @property
    def progress(self) -> float:
        """Fraction of the budget spent (the larger of steps and env steps where both are set)."""
        fractions = [self.generation / self._budget] if self._budget else []
        if self._max_env_steps:
            fractions.append(self.env_steps / self._max_env_steps)
        return min(1.0, max(fractions))

    def finished(self) -> bool:
        """Whether the budget is spent or the stop_at return was reached."""
        return self.progress >= 1.0 or self._reached

    def step(self) -> dict[str, Any]:
        raise NotImplementedError

    def exports(self) -> dict[str, Exported]:
        raise NotImplementedError

    def evaluate_current(self, params: torch.Tensor) -> float | None:
        """Greedy mean return of `params` on the center stream (every center_every steps), checked against stop_at."""
        every = self.eval_cfg.center_every
        if not every or self.generation % every:
            return None
        episodes = self.eval_cfg.center_episodes or self.eval_cfg.episodes
        seeds = episode_seeds(self.seed, "center", self.generation, 1, episodes)
        results = self.evaluator.evaluate(params.unsqueeze(0), seeds, self.norm)
        self.env_steps += results.env_steps
        value = float(results.returns.mean())
        self.check_stop(value)
        return value

    def check_stop(self, value: float) -> None:
        """Note that the run may stop once a measured return reaches stop_at."""
        self._reached = self._reached or (self._stop_at is not None and value >= self._stop_at)

    def note_best(self, value: float, params: torch.Tensor) -> None:
        """Keep `params` (under the current normalizer) if `value` beats every return noted so far."""
        if self.best is None or value > self.best[0]:
            self.best = (value, Exported(params.detach().clone(), self.norm))

    def update_norm(self, seen: ObsStats) -> None:
        """Fold a step's observations into the normalizer used from the next step on (if obs_norm is on)."""
        if self.obs_norm:
            self.stats = self.stats + seen
            self.norm = ObsNorm.from_stats(self.stats)
