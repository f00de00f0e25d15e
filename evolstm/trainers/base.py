"""What every trainer shares: budget and early stop, greedy evaluation of the current policy, observation statistics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evolstm.config import Experiment
from evolstm.evaluation import Evaluator
from evolstm.normalization import ObsNorm, ObsStats
from evolstm.policies import PolicySpec
from evolstm.seeding import episode_seeds


@dataclass(frozen=True)
class Exported:
    """A policy ready to export: flat parameters and the normalizer it acts under."""

    params: torch.Tensor
    norm: ObsNorm


class DivergedError(RuntimeError):
    """Training cannot go on: e.g. every member of a generation returned a non-finite return."""


class Trainer:
    """A training loop cut into steps (ES generations, REINFORCE iterations); `step` returns that step's metrics row.

    Every trainer is built as `Trainer(experiment, evaluator, spec, init)` from the flat parameter vector `init`.
    """

    STEP = "generation"  # what one step is called, in metric rows and messages
    GREEDY = "center"  # the metric holding the greedy return of the current policy

    def __init__(self, experiment: Experiment, evaluator: Evaluator, spec: PolicySpec, init: torch.Tensor) -> None:
        self.seed = experiment.seed
        self.eval_cfg = experiment.evaluation
        self.evaluator = evaluator
        self.spec = spec
        self.obs_norm = experiment.policy.obs_norm
        self.stats = ObsStats.empty(spec.obs_dim)
        self.norm = ObsNorm.identity(spec.obs_dim)
        self.steps = 0  # completed steps
        self.env_steps = 0
        self._budget = experiment.trainer.budget
        self._max_env_steps = experiment.trainer.max_env_steps
        self._stop_at = experiment.trainer.stop_at
        self._reached = False
        self.best: tuple[float, Exported] | None = None  # highest return noted so far, and its policy
        self._warnings: list[str] = []  # what went wrong in this step but was handled; they go into its row

    @property
    def progress(self) -> float:
        """Fraction of the budget spent (the larger of steps and env steps where both are set)."""
        fractions = [self.steps / self._budget] if self._budget else []
        if self._max_env_steps:
            fractions.append(self.env_steps / self._max_env_steps)
        return min(1.0, max(fractions))

    @property
    def reached_goal(self) -> bool:
        """Whether a measured return reached stop_at."""
        return self._reached

    def finished(self) -> bool:
        """Whether the budget is spent or the stop_at return was reached."""
        return self.progress >= 1.0 or self._reached

    def step(self) -> dict[str, Any]:
        """One training step: its metrics row, numbered under STEP, with env steps, seconds and any warnings."""
        start = time.perf_counter()
        self._warnings = []
        row = {self.STEP: self.steps, **self._train_step()}
        self.steps += 1
        row["env_steps"] = self.env_steps
        row["step_time"] = time.perf_counter() - start
        if self._warnings:
            row["warnings"] = self._warnings
        return row

    def _train_step(self) -> dict[str, Any]:
        """The trainer's own step and its metrics."""
        raise NotImplementedError

    def exports(self) -> dict[str, Exported]:
        raise NotImplementedError

    def warn(self, message: str) -> None:
        """Note something that went wrong but was handled (a non-finite return, say); it goes into this step's row."""
        self._warnings.append(f"{self.STEP} {self.steps}: {message}")

    def evaluate_current(self, params: torch.Tensor) -> float | None:
        """Greedy mean return of `params` on the greedy stream (every greedy_every steps), checked against stop_at."""
        every = self.eval_cfg.greedy_every
        if not every or self.steps % every:
            return None
        seeds = episode_seeds(self.seed, "greedy", self.steps, 1, self.eval_cfg.greedy_episodes)
        results = self.evaluator.score(params.unsqueeze(0), seeds, self.norm)
        self.env_steps += results.env_steps
        value = float(results.returns.mean())
        if not np.isfinite(value):
            self.warn(f"the current policy's greedy return is {value}")
            return None
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
        """Fold a step's observations into the normalizer used from the next step on (if obs_norm is on);
        non-finite observations are left out with a warning rather than poisoning every later normalization."""
        if not self.obs_norm:
            return
        if not (np.isfinite(seen.total).all() and np.isfinite(seen.total_sq).all()):
            self.warn("non-finite observations; normalizer not updated")
            return
        self.stats = self.stats + seen
        self.norm = ObsNorm.from_stats(self.stats)

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run continues from, at a step boundary: counters, normalizer, stop flag, best policy."""
        best = None
        if self.best is not None:
            value, exported = self.best
            best = {"value": value, "params": exported.params, **_norm_state(exported.norm)}
        return {
            "steps": self.steps,
            "env_steps": self.env_steps,
            "reached": self._reached,
            "stop_at": self._stop_at,
            "best": best,
            **_norm_state(self.norm),
            "stats": {
                "total": torch.from_numpy(self.stats.total),
                "total_sq": torch.from_numpy(self.stats.total_sq),
                "count": self.stats.count,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of state_dict; a stop flag set under a different stop_at is cleared (the new goal decides).
        ValueError (or KeyError) for entries of the wrong type or size, before anything is changed."""
        dim = self.spec.obs_dim
        stats, best = state["stats"], state["best"]
        if not isinstance(stats, dict) or not (best is None or isinstance(best, dict)):
            raise ValueError("stats or best is not a mapping")
        for name, value in [*(("stats." + k, stats[k]) for k in ("total", "total_sq")), *_norm_entries(state)]:
            _check_vector(name, value, dim)
        if best is not None:
            _check_vector("best.params", best["params"], self.spec.num_params)
            for name, value in _norm_entries(best):
                _check_vector("best." + name, value, dim)
            if not isinstance(best["value"], float):
                raise ValueError(f"best.value is {best['value']!r}, not a number")
        if not isinstance(state["reached"], bool) or not isinstance(stats["count"], int) or stats["count"] < 0:
            raise ValueError("reached or stats.count has the wrong type")
        for name, norm in (("", state), ("best.", best or state)):
            if not (norm["norm_std"].isfinite().all() and (norm["norm_std"] > 0).all()):
                raise ValueError(f"{name}norm_std must be finite and positive")
        self.steps, self.env_steps = state["steps"], state["env_steps"]
        self._reached = state["reached"] and state["stop_at"] == self._stop_at
        self.stats = ObsStats(stats["total"].numpy(), stats["total_sq"].numpy(), stats["count"])
        self.norm = _norm_from(state)
        self.best = None if best is None else (best["value"], Exported(best["params"], _norm_from(best)))


def finite_summary(values: np.ndarray) -> dict[str, float | None]:
    """Best, mean, median and worst of the finite entries (None where there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"best": None, "mean": None, "median": None, "worst": None}
    return {
        "best": float(finite.max()),
        "mean": float(finite.mean()),
        "median": float(np.median(finite)),
        "worst": float(finite.min()),
    }


def _norm_state(norm: ObsNorm) -> dict[str, Any]:
    return {"norm_mean": torch.from_numpy(np.asarray(norm.mean)), "norm_std": torch.from_numpy(np.asarray(norm.std))}


def _norm_entries(state: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("norm_mean", state["norm_mean"]), ("norm_std", state["norm_std"])]


def _check_vector(name: str, value: Any, size: int) -> None:
    """ValueError unless `value` is a floating-point tensor of shape [size]."""
    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.shape != (size,):
        shown = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{name} is {shown}, not {size} floats")


def _norm_from(state: dict[str, Any]) -> ObsNorm:
    return ObsNorm(state["norm_mean"].numpy(), state["norm_std"].numpy())
