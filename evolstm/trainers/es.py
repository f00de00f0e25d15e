"""Evolution strategies: an EvoTorch searcher over the flat policy vector; the fitness of a member is its mean return.

All search maths is EvoTorch's. This module only wires a `Problem` whose batch evaluation calls evolstm's evaluator
(with seeds derived from run seed, generation and member), and keeps what a run needs: metrics, best and center.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from evotorch import Problem, SolutionBatch
from evotorch.algorithms import CEM, CMAES, PGPE, SNES, XNES, Cosyne, GeneticAlgorithm
from evotorch.operators import GaussianMutation, SimulatedBinaryCrossOver

from evolstm.config import ConfigError, ESConfig, Experiment
from evolstm.config.options import CEM_PARENTHOOD_RATIO
from evolstm.evaluation import Evaluator
from evolstm.normalization import ObsStats
from evolstm.policies import PolicySpec
from evolstm.seeding import episode_seeds
from evolstm.trainers.base import DivergedError, Exported, Trainer, finite_summary
from evolstm.trainers.searcher_state import capture_searcher, restore_searcher

logging.getLogger("evotorch").setLevel(logging.WARNING)  # its INFO lines (dtype, device, actors) are noise to users


def _pgpe(cfg: ESConfig, dim: int) -> dict[str, Any]:
    """PGPE with ClipUp, sized by the ClipUp paper's rule of thumb: max_speed = radius / 15, lr = max_speed / 2."""
    max_speed = cfg.stdev_init * dim**0.5 / 15
    return {
        "popsize": cfg.popsize,
        "stdev_init": cfg.stdev_init,
        "center_learning_rate": max_speed / 2,
        "stdev_learning_rate": 0.1,
        "optimizer": "clipup",
        "optimizer_config": {"max_speed": max_speed},
    }


def _gaussian(cfg: ESConfig, dim: int) -> dict[str, Any]:
    return {"popsize": cfg.popsize, "stdev_init": cfg.stdev_init}


#: name -> (EvoTorch class, defaults from the trainer config and the parameter count); YAML options override them.
SEARCHERS: dict[str, tuple[type, Callable[[ESConfig, int], dict[str, Any]]]] = {
    "pgpe": (PGPE, _pgpe),
    "cmaes": (CMAES, _gaussian),
    "snes": (SNES, _gaussian),
    "xnes": (XNES, _gaussian),
    "cem": (CEM, lambda cfg, dim: {**_gaussian(cfg, dim), "parenthood_ratio": CEM_PARENTHOOD_RATIO}),
    "ga": (GeneticAlgorithm, lambda cfg, dim: {"popsize": cfg.popsize, "tournament_size": 4, "eta": 8.0}),
    "cosyne": (
        Cosyne,
        lambda cfg, dim: {"popsize": cfg.popsize, "tournament_size": 4, "mutation_stdev": cfg.stdev_init},
    ),
}


def _accepted(cls: type) -> set[str]:
    """Keyword arguments a constructor accepts (besides the problem)."""
    return {name for name in inspect.signature(cls.__init__).parameters if name not in ("self", "problem")}


def make_searcher(cfg: ESConfig, problem: Problem) -> Any:
    """Build the EvoTorch searcher `cfg.algorithm` with evolstm's defaults overridden by `cfg.options`."""
    cls, defaults = SEARCHERS[cfg.algorithm]
    kwargs = {**defaults(cfg, problem.solution_length), **cfg.options}
    allowed = _accepted(cls)
    crossover: dict[str, Any] = {}
    if cls is GeneticAlgorithm:  # GA's variation operators take their own options
        allowed |= _accepted(SimulatedBinaryCrossOver)
        crossover = {k: kwargs.pop(k) for k in list(kwargs) if k in _accepted(SimulatedBinaryCrossOver)}
        kwargs["operators"] = [
            SimulatedBinaryCrossOver(problem, **crossover),
            GaussianMutation(problem, stdev=cfg.stdev_init),
        ]
    unknown = sorted(set(cfg.options) - allowed)
    if unknown:
        raise ConfigError(
            f"trainer.options.{unknown[0]}: not an option of EvoTorch's {cls.__name__}; "
            f"allowed: {', '.join(sorted(allowed - {'operators'}))}"
        )
    try:
        with warnings.catch_warnings():  # EvoTorch's CMAES copy-constructs a tensor internally and warns about it
            warnings.filterwarnings("ignore", "To copy construct from a tensor", UserWarning)
            return cls(problem, **kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"trainer.options: EvoTorch's {cls.__name__} rejected them ({err})") from None


class PolicyProblem(Problem):
    """Maximise mean episode return over flat policy vectors; a whole SolutionBatch goes to the evaluator at once."""

    def __init__(self, evaluate: Callable[[torch.Tensor], np.ndarray], dim: int, bound: float, seed: int) -> None:
        super().__init__("max", solution_length=dim, initial_bounds=(-bound, bound), dtype=torch.float32, seed=seed)
        self._evaluate = evaluate

    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        values = batch.values.as_subclass(torch.Tensor)  # EvoTorch's read-only subclass would spread into every op
        batch.set_evals(torch.as_tensor(self._evaluate(values), dtype=torch.float32))


class ESTrainer(Trainer):
    """Runs generations of an EvoTorch searcher; each `step` returns that generation's metrics."""

    def __init__(self, experiment: Experiment, evaluator: Evaluator, spec: PolicySpec, init: torch.Tensor) -> None:
        super().__init__(experiment, evaluator, spec, init)
        self.cfg: ESConfig = experiment.trainer
        self._pending = ObsStats.empty(spec.obs_dim)  # observations of this generation
        self._last: dict[str, Any] = {}
        self.problem = PolicyProblem(self._evaluate_population, init.numel(), float(init.abs().max()), self.seed)
        if "center_init" not in self.cfg.options and self.cfg.algorithm not in ("ga", "cosyne"):
            self.cfg = self.cfg.model_copy(update={"options": {"center_init": init.numpy(), **self.cfg.options}})
        self.searcher = make_searcher(self.cfg, self.problem)

    def _evaluate_population(self, values: torch.Tensor) -> np.ndarray:
        seeds = episode_seeds(
            self.seed, "population", self.steps, len(values), self.cfg.episodes, self.cfg.common_random_numbers
        )
        results = self.evaluator.score(values.detach(), seeds, self.norm)
        fitness = results.returns.mean(axis=1)
        self.env_steps += results.env_steps
        self._pending = self._pending + results.obs_stats
        self._last = {**finite_summary(fitness), "nonfinite": int((~np.isfinite(fitness)).sum())}
        fitness = self._worst_for_nonfinite(fitness)
        top = int(np.argmax(fitness))
        self.note_best(float(fitness[top]), values[top])
        return fitness

    def _worst_for_nonfinite(self, fitness: np.ndarray) -> np.ndarray:
        """Members with a NaN or infinite return get the generation's worst finite fitness (reported as a warning),
        so that nothing non-finite reaches the search distribution; a generation with none finite stops the run."""
        bad = np.flatnonzero(~np.isfinite(fitness))
        if bad.size == 0:
            return fitness
        if bad.size == fitness.size:
            raise DivergedError(f"{self.STEP} {self.steps}: every member's return is non-finite ({fitness[0]})")
        shown = ", ".join(f"{i} ({fitness[i]})" for i in bad[:5]) + (" ..." if bad.size > 5 else "")
        self.warn(f"non-finite returns from members {shown}; treated as the worst fitness")
        return np.where(np.isfinite(fitness), fitness, fitness[np.isfinite(fitness)].min())

    def center(self) -> torch.Tensor | None:
        """The search distribution's center (None for ga and cosyne, which keep no center)."""
        status = self.searcher.status
        return status["center"].detach().clone() if "center" in status else None

    def _train_step(self) -> dict[str, Any]:
        """One generation: ask, evaluate, tell (all inside EvoTorch's step), then measure the center."""
        self.searcher.step()
        self._check_distribution()
        metrics: dict[str, Any] = dict(self._last)
        center = self.center()
        if center is None:
            self.check_stop(metrics["best"])
        elif (value := self.evaluate_current(center)) is not None:
            metrics["center"] = value
        metrics["best_ever"] = self.best[0] if self.best else None
        if "stdev" in self.searcher.status:
            metrics["stdev"] = float(torch.as_tensor(self.searcher.status["stdev"]).float().mean())
        self.update_norm(self._pending)
        self._pending = ObsStats.empty(self.spec.obs_dim)
        return metrics

    def _check_distribution(self) -> None:
        """DivergedError once the search center or spread is no longer finite (a NaN policy can still score finite
        returns, so this is checked on the distribution itself)."""
        status = self.searcher.status
        for name in ("center", "stdev"):
            if name in status and not torch.isfinite(torch.as_tensor(status[name])).all():
                raise DivergedError(
                    f"{self.STEP} {self.steps}: the searcher's {name} is no longer finite (the search diverged; "
                    f"try another popsize, stdev_init or learning rate)"
                )

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "searcher": capture_searcher(self.searcher)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        restore_searcher(self.searcher, state["searcher"])

    def exports(self) -> dict[str, Exported]:
        """Policies to export: the best member seen and (where the searcher has one) the final center."""
        out: dict[str, Exported] = {}
        if self.best is not None:
            out["best"] = self.best[1]
        center = self.center()
        if center is not None and torch.isfinite(center).all():
            out["center"] = Exported(center, self.norm)
        return out
