"""`bench poles`: evaluations needed to balance poles without velocities (double pole, DPNV; single pole), over many
independent runs of each method, beside the published figures of the neuroevolution literature.

Each run is an EvoTorch searcher with its own seed; a run whose best has not improved for `patience` generations
(or whose searcher fails) restarts with a fresh searcher, its evaluations still counting. The runs of a method play
together: every round, the populations of all runs still searching are scored as one batch on the batched env
(`Rounds`), so that 50 runs cost about as many loop steps as one. An evaluation is one episode of one network;
every episode a run plays counts, the whole generation in which it solved included. With the damping fitness, a
generation's best network that balanced all 1,000 steps is tested for 100,000 steps on the standard task; those
tests are counted apart (`checks`). A solving network then faces the 625 starts of the generalization test (1,000
steps each).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from evotorch import Problem, SolutionBatch

from evolstm import config
from evolstm.config import Experiment
from evolstm.environment import policy_spec
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import PolicySpec
from evolstm.tasks.poles import DAMPING_STEPS, SOLVED_STEPS
from evolstm.trainers.es import make_searcher

TASKS = {"double": "evolstm/DoublePoleNoVel-v0", "single": "evolstm/SinglePoleNoVel-v0"}
GENERALIZATION_STEPS = 1000


@dataclass(frozen=True)
class Method:
    """One searcher on one network: EvoTorch algorithm (evolstm's name), policy kind and size, population, initial
    spread and any searcher options."""

    algorithm: str
    kind: str
    hidden: int
    popsize: int
    stdev_init: float
    patience: int = 50  # generations without a better best before the run restarts its searcher
    options: dict[str, Any] = field(default_factory=dict)

    def experiment(self, task_id: str, kwargs: dict[str, Any]) -> Experiment:
        """The method as an evolstm experiment on the task (ConfigError for a wrong option)."""
        return config.from_dict(
            {
                "name": "poles",
                "task": {"id": task_id, "kwargs": kwargs},
                "policy": {"kind": self.kind, "hidden": self.hidden},
                "trainer": {
                    "kind": "es",
                    "algorithm": self.algorithm,
                    "popsize": self.popsize,
                    "stdev_init": self.stdev_init,
                    "options": self.options,
                },
            }
        )


#: popsize and initial spread per searcher (CoSyNE, a GA, keeps a larger population)
SEARCH_SETTINGS = {"snes": (16, 0.5), "xnes": (16, 0.5), "cmaes": (16, 0.5), "pgpe": (16, 0.5), "cosyne": (32, 0.3)}
#: the methods `bench poles` knows, named searcher-kindH: EvoTorch's searchers on a plain recurrent tanh network of
#: H units (the NES paper used one) and on an LSTM
METHODS: dict[str, Method] = {
    f"{algorithm}-{kind}{hidden}": Method(algorithm, kind, hidden, *SEARCH_SETTINGS[algorithm])
    for algorithm in SEARCH_SETTINGS
    for kind, hidden in (("rnn", 1), ("rnn", 2), ("rnn", 3), ("lstm", 2), ("lstm", 4))
}
DEFAULT_METHODS = ("snes-rnn2", "xnes-rnn2")


@dataclass
class RunResult:
    """What one run reached: whether and when it solved, what it played, its solution's generalization."""

    method: str
    run: int
    solved: bool = False
    evaluations: int = 0  # training episodes, the solving generation's included
    checks: int = 0  # 100,000-step tests of a damping generation's best
    generations: int = 0
    seconds: float = 0.0
    solution: torch.Tensor | None = None
    generalization: int | None = None  # of the 625 starts, how many it balanced for 1,000 steps
    restarts: int = 0  # fresh searchers after a stall or a failure
    errors: list[str] = field(default_factory=list)  # the searcher failures among them

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "solution"}


class RoundError(RuntimeError):
    """Scoring a round failed (an env or evaluator error): every run stops, and the benchmark with it."""


class Rounds:
    """Lockstep scoring for threads: each active run submits its population and waits; the last one to submit
    scores all of them with `score` (one batched call) and wakes the others with their part. A run that stops
    calls `leave`."""

    def __init__(self, runs: int, score: Callable[[dict[int, torch.Tensor]], dict[int, Any]]) -> None:
        self._score, self._active = score, runs
        self._waiting: dict[int, torch.Tensor] = {}
        self._results: dict[int, Any] = {}
        self._error: BaseException | None = None
        self._lock = threading.Condition()

    def evaluate(self, run: int, params: torch.Tensor) -> Any:
        with self._lock:
            self._waiting[run] = params
            self._play_if_complete()
            self._lock.wait_for(lambda: run in self._results or self._error is not None)
            if self._error is not None:
                raise RoundError(str(self._error)) from self._error
            return self._results.pop(run)

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            self._play_if_complete()

    def _play_if_complete(self) -> None:
        if not self._waiting or len(self._waiting) < self._active:
            return
        waiting, self._waiting = self._waiting, {}
        try:
            self._results.update(self._score(waiting))
        except BaseException as err:  # every waiting run gets the error, not only this thread
            self._error = err
        self._lock.notify_all()


class _Scored(Problem):
    """A run's fitness: its population goes to the shared rounds (maximize the returns)."""

    def __init__(self, dim: int, seed: int, submit: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__("max", solution_length=dim, initial_bounds=(-1.0, 1.0), seed=seed)
        self._submit = submit
        self.best, self.stalled = -math.inf, 0  # the best fitness seen, and batches since it last improved

    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        fitness = self._submit(batch.values.detach().clone())
        top = float(fitness.max())
        self.best, self.stalled = (top, 0) if top > self.best else (self.best, self.stalled + 1)
        batch.set_evals(fitness)


class PoleRuns:
    """`runs` independent runs of `method` on the `task` ("double" or "single") with `fitness` ("standard" or
    "damping"), each stopping when solved or after `max_evaluations` episodes. Scoring is compiled (a long
    episode's steps cost ~10x less than eager ones), unless `compile` is False."""

    def __init__(
        self,
        method: str,
        task: str,
        fitness: str,
        runs: int,
        max_evaluations: int,
        seed: int = 0,
        progress: bool = False,
        compile: bool = True,
    ) -> None:
        self.name, self.method, self.compile = method, METHODS[method], compile
        self.task, self.fitness, self.runs, self.max_evaluations, self.seed = task, fitness, runs, max_evaluations, seed
        self._standard = self._evaluator("standard", SOLVED_STEPS, "standard")
        self._training = self._standard if fitness == "standard" else self._evaluator("damping", None, "standard")
        self.spec: PolicySpec = self._standard.spec
        self.results = [RunResult(method, run) for run in range(runs)]
        self._norm = ObsNorm.identity(self.spec.obs_dim)
        self._failure: BaseException | None = None
        self.progress, self._rounds = progress, 0

    def _evaluator(self, fitness: str, max_steps: int | None, start: str) -> VectorEvaluator:
        kwargs = {"fitness": fitness, "max_steps": max_steps, "start": start}
        task = TASKS[self.task]
        experiment = self.method.experiment(task, kwargs)
        spec = policy_spec(experiment.task, experiment.policy)
        return VectorEvaluator(experiment.task, spec, "batched", compile=self.compile)

    def _play(self, evaluator: VectorEvaluator, params: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths [len(params)] of one episode each, the batch padded with zero networks (which fall
        within a few dozen steps) to a power of two: compiled steps then meet only power-of-two sizes."""
        size = 1 << (len(params) - 1).bit_length()
        padded = torch.cat([params, params.new_zeros(size - len(params), params.shape[1])])
        played = evaluator.score(padded, np.zeros((size, 1), dtype=np.int64), self._norm)
        return played.returns[: len(params), 0], played.lengths[: len(params), 0]

    def _score(self, waiting: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """One round: every waiting run's population on the training task, then (damping) the 100,000-step test of
        each run's best that balanced all 1,000 steps; records solutions and counts."""
        runs = sorted(waiting)
        sizes = [len(waiting[r]) for r in runs]
        returns, lengths = self._play(self._training, torch.cat([waiting[r] for r in runs]))
        fitness, solvers = {}, {}
        start = 0
        for run, size in zip(runs, sizes):
            part = slice(start, start + size)
            start += size
            fitness[run] = torch.as_tensor(returns[part], dtype=torch.float32)
            result = self.results[run]
            result.evaluations += size
            result.generations += 1
            if self.fitness == "standard":
                winners = np.flatnonzero(returns[part] >= SOLVED_STEPS)
                if len(winners):
                    solvers[run] = waiting[run][winners[0]]
            else:
                best = int(np.argmax(returns[part]))
                if lengths[part][best] >= DAMPING_STEPS:
                    solvers[run] = waiting[run][best]
        if self.fitness == "damping" and solvers:
            tested = sorted(solvers)
            long, _ = self._play(self._standard, torch.stack([solvers[r] for r in tested]))
            for run, balanced in zip(tested, long):
                self.results[run].checks += 1
                if balanced < SOLVED_STEPS:
                    del solvers[run]
        for run, solution in solvers.items():
            self.results[run].solved, self.results[run].solution = True, solution.clone()
        self._rounds += 1
        if self.progress and self._rounds % 10 == 0:
            solved = sum(r.solved for r in self.results)
            print(
                f"  {self.name} {self.task} {self.fitness}: round {self._rounds}, {len(runs)} runs searching, "
                f"{solved} solved, longest episode {int(lengths.max()):,} steps",
                flush=True,
            )
        return fitness

    def run(self) -> list[RunResult]:
        """All runs, each in its own thread; then the generalization test of every solution."""
        rounds = Rounds(self.runs, self._score)
        threads = [threading.Thread(target=self._search, args=(run, rounds)) for run in range(self.runs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._failure is not None:
            raise self._failure
        self._generalize()
        return self.results

    def _search(self, run: int, rounds: Rounds) -> None:
        """One run: its searcher steps until it solves or reaches the evaluation budget, starting afresh (a new
        seed, the evaluations so far still counted) when its best fitness has not improved for `patience`
        generations or when the searcher fails (e.g. CMA-ES's covariance losing definiteness)."""
        result, began = self.results[run], time.perf_counter()
        trainer = self.method.experiment(TASKS[self.task], {}).trainer
        try:
            while not result.solved and result.evaluations < self.max_evaluations:
                seed = (self.seed + run) * 1000 + result.restarts
                problem = _Scored(self.spec.num_params, seed, lambda x: rounds.evaluate(run, x))
                try:
                    searcher = make_searcher(trainer, problem)
                    while not result.solved and result.evaluations < self.max_evaluations:
                        searcher.step()
                        if problem.stalled >= self.method.patience:
                            break
                except RoundError:
                    raise
                except Exception as err:
                    result.errors.append(f"{type(err).__name__}: {' '.join(str(err).split())[:200]}")
                if not result.solved and result.evaluations < self.max_evaluations:
                    result.restarts += 1
        except RoundError as err:  # raised once the threads have joined
            self._failure = self._failure or err
        finally:
            result.seconds = time.perf_counter() - began
            rounds.leave()

    def _generalize(self) -> None:
        """How many of the 625 generalization starts each solution balances for 1,000 steps."""
        solved = [r for r in self.results if r.solved]
        if not solved:
            return
        grid = self._evaluator("standard", GENERALIZATION_STEPS, "grid")
        starts = 625
        params = torch.stack([r.solution for r in solved])
        seeds = np.tile(np.arange(starts, dtype=np.int64), (len(solved), 1))
        returns = grid.score(params, seeds, self._norm).returns  # one batch size: compiled once
        for result, row in zip(solved, returns):
            result.generalization = int((row >= GENERALIZATION_STEPS).sum())


def measure(
    method: str, task: str, fitness: str, runs: int, max_evaluations: int, seed: int, compile: bool, threads: int
) -> dict:
    """One table row, timed, with its settings: `runs` runs of `method` on the task with the fitness (the unit of
    work that `bench poles` spreads over processes, each with `threads` torch threads)."""
    torch.set_num_threads(threads)
    began = time.perf_counter()
    pole_runs = PoleRuns(method, task, fitness, runs, max_evaluations, seed, progress=True, compile=compile)
    results = pole_runs.run()
    row = summary(method, task, fitness, results, time.perf_counter() - began, pole_runs.spec.num_params)
    return {**row, "max_evaluations": max_evaluations, "threads": threads}


def summary(method: str, task: str, fitness: str, results: list[RunResult], wall: float, num_params: int) -> dict:
    """One table row: success rate, mean and median evaluations of the solved runs, checks, time, size."""
    solved = [r for r in results if r.solved]
    evaluations = [r.evaluations for r in solved]
    general = [r.generalization for r in solved if r.generalization is not None]
    return {
        "method": method,
        "task": task,
        "fitness": fitness,
        "runs": len(results),
        "solved": len(solved),
        "success_rate": len(solved) / len(results),
        "mean_evaluations": float(np.mean(evaluations)) if solved else math.nan,
        "median_evaluations": float(np.median(evaluations)) if solved else math.nan,
        "mean_checks": float(np.mean([r.checks for r in results])),
        "mean_restarts": float(np.mean([r.restarts for r in results])),
        "mean_generalization": float(np.mean(general)) if general else math.nan,
        "wall_seconds": wall,
        "num_params": num_params,
        "run_rows": [r.row() for r in results],
    }
