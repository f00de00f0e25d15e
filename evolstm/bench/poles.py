"""`bench poles`: evaluations needed to balance poles without velocities (double pole, DPNV; single pole), over many
independent runs of each method, beside the published figures of the neuroevolution literature.

Each run is an EvoTorch searcher with its own seed; a run whose best has not improved for `patience` generations
(or whose searcher fails) restarts with a fresh searcher, its evaluations still counting. The runs of a method play
together: their episodes share the slots of one batched env (`evolstm.evaluation.stream`), each slot taking the next
waiting episode as soon as its own ends, so that one run's 100,000-step episode holds up neither the batch nor the
other runs. An evaluation is one episode of one network;
every episode a run plays counts, the whole generation in which it solved included. With the damping fitness, a
generation's best network that balanced all 1,000 steps is tested for 100,000 steps on the standard task; those
tests are counted apart (`checks`). A solving network then faces the 625 starts of the generalization test (1,000
steps each).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from evotorch import Problem, SolutionBatch

from evolstm import config
from evolstm.config import Experiment, TaskConfig
from evolstm.environment import policy_spec
from evolstm.evaluation.stream import EpisodeStream, SlotLoop, StreamError
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import PolicySpec
from evolstm.rollout import power_of_two
from evolstm.tasks.poles import DAMPING_STEPS, SOLVED_STEPS
from evolstm.trainers.es import make_searcher

TASKS = {"double": "evolstm/DoublePoleNoVel-v0", "single": "evolstm/SinglePoleNoVel-v0"}
GENERALIZATION_STEPS = 1000
#: the most slots a method's runs play their episodes in (CPU, one thread: 256 steps cost ~2x one, 1024 ~4x)
MAX_SLOTS = 256
#: the rows a loop steps while few episodes play (`SlotLoop`'s narrow; at least a run's population for training):
#: the last runs' episodes step ~4x faster at 16 rows than at 256 (DPNV, compiled); 16 is a multiple of any CPU's
#: vector width, so that both widths' programs round alike
NARROW_SLOTS = 16
PROGRESS_SECONDS = 30.0


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
    #: the searcher works on the weights with those from the inputs divided by this gain, so their initial spread
    #: (and every step on them) is this many times the others': a per-weight initial spread, to which SNES, xNES and
    #: CMA-ES are otherwise invariant. The task's observations stay NEAT's (x / 4.8, angles / 0.52)
    input_gain: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)

    def weight_scale(self, spec: PolicySpec) -> torch.Tensor:
        """Per flat parameter, what a searcher's value is multiplied by to give the network's weight."""
        gains = [self.input_gain if name == "core.weight_ih_l0" else 1.0 for name, _ in spec.layout]
        return torch.cat([torch.full((math.prod(shape),), gain) for gain, (_, shape) in zip(gains, spec.layout)])

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
#: networks: a plain recurrent tanh network of H units (the NES paper used one) or an LSTM
KINDS = ("rnn", "lstm")
METHOD_NAME = re.compile(
    rf"(?P<algorithm>{'|'.join(SEARCH_SETTINGS)})-(?P<kind>{'|'.join(KINDS)})(?P<hidden>[1-9][0-9]*)"
    r"(?:-p(?P<popsize>[1-9][0-9]*))?(?:-s(?P<stdev>[0-9]+(?:\.[0-9]+)?))?(?:-g(?P<gain>[0-9]+(?:\.[0-9]+)?))?"
    r"(?:-r(?P<patience>[1-9][0-9]*))?"
)
#: a method's name: searcher-kindH, optionally -pN (population size) and -sX (initial spread) in place of the
#: searcher's SEARCH_SETTINGS, -gK (the input weights' gain, Method.input_gain) and -rG (restart after G generations
#: without a better best; default 50), e.g. snes-rnn2, cmaes-lstm4, snes-rnn1-p8-s1.0-g10-r20
METHOD_FORM = "searcher-kindH[-pN][-sX][-gK][-rG]"


def parse_method(name: str) -> Method:
    """The method `name` stands for (ValueError naming the form if it stands for none)."""
    match = METHOD_NAME.fullmatch(name)
    if match is None:
        raise ValueError(
            f"{name!r} is not a method: {METHOD_FORM} with searcher one of {', '.join(SEARCH_SETTINGS)} and kind one "
            f"of {', '.join(KINDS)}, e.g. snes-rnn1-p8-s1.0"
        )
    popsize, stdev = SEARCH_SETTINGS[match["algorithm"]]
    return Method(
        match["algorithm"],
        match["kind"],
        int(match["hidden"]),
        int(match["popsize"] or popsize),
        float(match["stdev"] or stdev),
        int(match["patience"] or Method.patience),
        float(match["gain"] or Method.input_gain),
    )


#: the two best on DPNV's standard fitness (README, Results): SNES with the input gain on 1 and 2 recurrent units
DEFAULT_METHODS = ("snes-rnn1-g10", "snes-rnn2-g10")


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


class _Scored(Problem):
    """A run's fitness: its population's episodes go to `evaluate` (maximize the returns)."""

    def __init__(self, dim: int, seed: int, evaluate: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__("max", solution_length=dim, initial_bounds=(-1.0, 1.0), seed=seed)
        self._evaluate_population = evaluate
        self.best, self.stalled = -math.inf, 0  # the best fitness seen, and batches since it last improved

    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        fitness = self._evaluate_population(batch.values.detach().clone())
        top = float(fitness.max())
        self.best, self.stalled = (top, 0) if top > self.best else (self.best, self.stalled + 1)
        batch.set_evals(fitness)


class Episodes(Protocol):
    """Where a run plays its episodes: `EpisodeStream.play` (a loop name, networks, seeds -> returns, lengths)."""

    def play(self, loop: str, params: torch.Tensor, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class PoleRuns:
    """`runs` independent runs of `method` on the `task` ("double" or "single") with `fitness` ("standard" or
    "damping"), each stopping when solved or after `max_evaluations` episodes. The runs' episodes share the slots
    of one `EpisodeStream` (a slot freed by an ended episode takes the next waiting one, whichever run it is from);
    scoring is compiled (a long episode's steps cost ~10x less than eager ones), unless `compile` is False. While
    few episodes play, the slots step only `narrow` rows (at least a run's population; 0: always all of them)."""

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
        narrow: int = NARROW_SLOTS,
    ) -> None:
        self.name, self.method, self.compile, self.narrow = method, parse_method(method), compile, narrow
        self.task, self.fitness, self.runs, self.max_evaluations, self.seed = task, fitness, runs, max_evaluations, seed
        self._experiment = self.method.experiment(TASKS[task], {})  # the method's policy and trainer sections
        self.spec: PolicySpec = policy_spec(self._training, self._experiment.policy)
        self._scale = self.method.weight_scale(self.spec)
        self.results = [RunResult(method, run) for run in range(runs)]
        self._failure: BaseException | None = None
        self.progress = progress

    def _task(self, fitness: str, max_steps: int | None, start: str) -> TaskConfig:
        return self.method.experiment(
            TASKS[self.task], {"fitness": fitness, "max_steps": max_steps, "start": start}
        ).task

    @property
    def _standard(self) -> TaskConfig:
        """The standard task: solved at 100,000 steps (damping runs check their best on it)."""
        return self._task("standard", SOLVED_STEPS, "standard")

    @property
    def _training(self) -> TaskConfig:
        """The task the runs' populations play: the standard one, or 1,000 steps with the damping fitness."""
        return self._task("damping", None, "standard") if self.fitness == "damping" else self._standard

    def _stream(self) -> EpisodeStream:
        """The slots the runs play in: all runs' populations at once (a power of two, at most MAX_SLOTS), narrowing
        to one run's population while no more play; with damping fitness, a loop for the 100,000-step checks too,
        one slot per run, narrowing to NARROW_SLOTS."""
        device = torch.device("cpu")

        def loop(task: TaskConfig, episodes: int, rows: int) -> SlotLoop:
            slots = min(MAX_SLOTS, power_of_two(episodes))
            return SlotLoop(
                task, self.spec, slots, device, self.compile, rows if self.narrow and rows < slots else None
            )

        popsize = max(self.narrow, power_of_two(self.method.popsize))
        loops = {"training": loop(self._training, self.runs * self.method.popsize, popsize)}
        if self.fitness == "damping":
            loops["check"] = loop(self._standard, self.runs, self.narrow)
        return EpisodeStream(loops, self.runs)

    def evaluate(self, run: int, params: torch.Tensor, episodes: Episodes) -> torch.Tensor:
        """Fitness of a run's population (one episode each from the task's start); counts the evaluations and,
        once a network solves (damping: the best balanced 1,000 steps and passes its 100,000-step check), records
        the solution."""
        result = self.results[run]
        returns, lengths = episodes.play("training", params, np.zeros(len(params), dtype=np.int64))
        result.evaluations += len(params)
        result.generations += 1
        solution = None
        if self.fitness == "standard":
            winners = np.flatnonzero(returns >= SOLVED_STEPS)
            solution = params[winners[0]] if len(winners) else None
        else:
            best = int(np.argmax(returns))
            if lengths[best] >= DAMPING_STEPS:
                result.checks += 1
                balanced, _ = episodes.play("check", params[best : best + 1], np.zeros(1, dtype=np.int64))
                solution = params[best] if balanced[0] >= SOLVED_STEPS else None
        if solution is not None:
            result.solved, result.solution = True, solution.clone()
        return torch.as_tensor(returns, dtype=torch.float32)

    def run(self) -> list[RunResult]:
        """All runs, each in its own thread, their episodes played in this one; then the generalization test of
        every solution."""
        stream = self._stream()
        threads = [threading.Thread(target=self._search, args=(run, stream)) for run in range(self.runs)]
        for thread in threads:
            thread.start()
        try:
            stream.drive(self._reporter(stream) if self.progress else None)
        finally:
            for thread in threads:
                thread.join()
        if self._failure is not None:
            raise self._failure
        self._generalize()
        return self.results

    def _reporter(self, stream: EpisodeStream) -> Callable[[], None]:
        """Prints a progress line every PROGRESS_SECONDS."""
        last = [time.perf_counter()]

        def report() -> None:
            now = time.perf_counter()
            if now - last[0] < PROGRESS_SECONDS:
                return
            last[0] = now
            solved = sum(r.solved for r in self.results)
            searching = sum(not r.solved and r.evaluations < self.max_evaluations for r in self.results)
            print(
                f"  {self.name} {self.task} {self.fitness}: {stream.episodes:,} episodes, {searching} runs searching, "
                f"{solved} solved",
                flush=True,
            )

        return report

    def _search(self, run: int, stream: EpisodeStream) -> None:
        """One run: its searcher steps until it solves or reaches the evaluation budget, starting afresh (a new
        seed, the evaluations so far still counted) when its best fitness has not improved for `patience`
        generations or when the searcher fails (e.g. CMA-ES's covariance losing definiteness)."""
        result, began = self.results[run], time.perf_counter()
        try:
            while not result.solved and result.evaluations < self.max_evaluations:
                seed = (self.seed + run) * 1000 + result.restarts
                problem = _Scored(self.spec.num_params, seed, lambda x: self.evaluate(run, x * self._scale, stream))
                try:
                    searcher = make_searcher(self._experiment.trainer, problem)
                    while not result.solved and result.evaluations < self.max_evaluations:
                        searcher.step()
                        if problem.stalled >= self.method.patience:
                            break
                except StreamError:
                    raise
                except Exception as err:
                    result.errors.append(f"{type(err).__name__}: {' '.join(str(err).split())[:200]}")
                if not result.solved and result.evaluations < self.max_evaluations:
                    result.restarts += 1
        except StreamError as err:  # the stream's own error is raised by run()
            self._failure = self._failure or err
        finally:
            result.seconds = time.perf_counter() - began
            stream.leave()

    def _generalize(self) -> None:
        """How many of the 625 generalization starts each solution balances for 1,000 steps."""
        solved = [r for r in self.results if r.solved]
        if not solved:
            return
        grid = VectorEvaluator(
            self._task("standard", GENERALIZATION_STEPS, "grid"), self.spec, "batched", compile=self.compile
        )
        starts = 625
        params = torch.stack([r.solution for r in solved])
        seeds = np.tile(np.arange(starts, dtype=np.int64), (len(solved), 1))
        returns = grid.score(
            params, seeds, ObsNorm.identity(self.spec.obs_dim)
        ).returns  # one batch size: compiled once
        for result, row in zip(solved, returns):
            result.generalization = int((row >= GENERALIZATION_STEPS).sum())


def measure(
    method: str,
    task: str,
    fitness: str,
    runs: int,
    max_evaluations: int,
    seed: int,
    compile: bool,
    threads: int,
    narrow: int = NARROW_SLOTS,
) -> dict:
    """One table row, timed, with its settings: `runs` runs of `method` on the task with the fitness (the unit of
    work that `bench poles` spreads over processes, each with `threads` torch threads)."""
    torch.set_num_threads(threads)
    began = time.perf_counter()
    pole_runs = PoleRuns(method, task, fitness, runs, max_evaluations, seed, True, compile, narrow)
    results = pole_runs.run()
    row = summary(method, task, fitness, results, time.perf_counter() - began, pole_runs.spec.num_params)
    return {**row, "max_evaluations": max_evaluations, "threads": threads, "narrow": narrow}


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
