"""Throughput of population evaluation, every path in one run: env steps/s and peak memory per member of evolstm's
local path, its batched path (eager and compiled, cpu and cuda when present), the bare batched step, EvoTorch's GymNE
and VecGymNE (on Gymnasium's scalar envs and on evolstm's batched env) and EvoX's OpenES over a vmapped LSTM.

Every path plays the same task with an LSTM of the same size; evolstm's paths and EvoX's evaluation play the same
population (evolstm's benchmark population; EvoX's policy has evolstm's parameter layout), EvoTorch's draw theirs
from N(0, PARAM_STDEV^2) (its own layout). Paths that loop over members in Python (evolstm local, GymNE, VecGymNE on
scalar envs) run only up to `peers_up_to` members.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from evolstm.bench.experiments import PARAM_STDEV, bench_experiment, population
from evolstm.bench.memory import PeakMemory
from evolstm.bench.timing import evaluator_row, median_time
from evolstm.config import TaskConfig
from evolstm.environment import has_batched_form, make_vector_env, policy_spec
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.policies import PolicySpec, PopulationPolicy


def bare_step_cost(
    task: TaskConfig, spec: PolicySpec, params: torch.Tensor, episodes: int, device: torch.device, steps: int = 200
) -> float:
    """Seconds per lockstep step of just the population LSTM step plus the batched env's step at this batch."""
    count = len(params) * episodes
    env = make_vector_env(task, count, "batched", device)
    env.reset(seed=0)
    policy = PopulationPolicy(spec, params.to(device))
    state = policy.initial_state(episodes)
    obs = torch.zeros(len(params), episodes, spec.obs_dim, device=device)
    actions = torch.zeros(count, dtype=torch.int64, device=device)

    def run() -> None:
        """`steps` steps of the policy and the env, on constant observations and actions."""
        nonlocal state
        for _ in range(steps):
            _, state = policy.step(obs, state)
            env.step(actions)

    with torch.no_grad():
        seconds, _ = median_time(run, 3)
    env.close()
    return seconds / steps


def _measured(device: torch.device, popsize: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The row `run` returns, with the peak memory growth while it ran (building, warm-up and timed repeats: envs,
    populations, states and, for compiled paths, the compiler's own) per member."""
    with PeakMemory(device) as peak:
        row = run()
    return {**row, "peak_mb": peak.bytes / 2**20, "kb_per_member": peak.bytes / 1024 / popsize}


class Paths:
    """The rows of one (task, population): each path timed on the same population and episode count."""

    def __init__(self, task: dict[str, Any], hidden: int, popsize: int, episodes: int, repeats: int) -> None:
        self.experiment = bench_experiment(task, hidden, episodes)
        self.spec = policy_spec(self.experiment.task, self.experiment.policy)
        self.params = population(self.spec, popsize)
        self.hidden, self.popsize, self.episodes, self.repeats = hidden, popsize, episodes, repeats
        self.kwargs = self.experiment.task.kwargs or None

    def evolstm(self, vectorization: str, device: str, compile: bool = False) -> dict[str, Any]:
        """evolstm scoring the population on the local path or the batched one (eager or compiled)."""
        name = (
            "evolstm local" if vectorization == "local" else f"evolstm {'compiled' if compile else 'batched'} {device}"
        )

        def run() -> dict[str, Any]:
            evaluator = VectorEvaluator(self.experiment.task, self.spec, vectorization, device, compile)
            row = evaluator_row(name, evaluator, self.params, self.episodes, self.repeats)
            evaluator.close()
            return row

        return _measured(torch.device(device), self.popsize, run)

    def bare(self, device: str) -> dict[str, Any]:
        """The bare step: population LSTM step plus batched env step, nothing else; its env steps/s are those of a
        loop in which every env is alive at every step (a bound no path that pads finished episodes reaches)."""
        seconds = bare_step_cost(self.experiment.task, self.spec, self.params, self.episodes, torch.device(device))
        count = self.popsize * self.episodes
        return {"path": f"bare step {device}", "step_ms": 1000 * seconds, "env_steps_per_s": count / seconds}

    def evotorch(self, vectorized: bool, batched_env: bool) -> dict[str, Any]:
        """EvoTorch's GymNE, or VecGymNE on Gymnasium's scalar envs or on evolstm's batched env."""
        from evolstm.bench.evotorch_baseline import evotorch_throughput

        name = "evotorch VecGymNE" if vectorized else "evotorch GymNE"
        name += " + evolstm env" if batched_env else ""

        def run() -> dict[str, Any]:
            result = evotorch_throughput(
                self.experiment.task.id,
                self.hidden,
                self.popsize,
                self.episodes,
                vectorized,
                repeats=self.repeats,
                env_kwargs=self.kwargs,
                param_stdev=PARAM_STDEV,
                batched_env=batched_env,
            )
            return {"path": name, **result}

        return _measured(torch.device("cpu"), self.popsize, run)

    def evox(self) -> list[dict[str, Any]]:
        """EvoX's OpenES, compiled as EvoX recommends: its evaluation of evolstm's population, and a whole
        workflow.step (sampling, evaluation and update) around its own centre."""
        from evolstm.bench.evox_baseline import evox_throughput

        def run() -> dict[str, Any]:
            return evox_throughput(
                self.experiment.task.id,
                self.hidden,
                self.popsize,
                self.episodes,
                repeats=self.repeats,
                env_kwargs=self.kwargs,
                members=self.params,
            )

        result = _measured(torch.device("cpu"), self.popsize, run)
        common = {key: result[key] for key in ("peak_mb", "kb_per_member", "evox_version", "compiled")}
        return [
            {
                "path": f"evox OpenES {part}",
                "env_steps_per_s": result[f"{prefix}_env_steps_per_s"],
                "env_steps": result[f"{prefix}_env_steps"],
                "seconds": result[f"{prefix}_seconds"],
                "warmup_seconds": result[f"{prefix}_warmup_seconds"],
                **common,
            }
            for prefix, part in (("eval", "evaluate"), ("step", "workflow.step"))
        ]


def throughput(
    task: dict[str, Any],
    hidden: int,
    popsizes: list[int],
    episodes: int,
    repeats: int,
    peers: set[str],
    peers_up_to: int,
) -> list[dict[str, Any]]:
    """One row per (popsize, path); `peers` among "compile", "evotorch", "evox"; the paths that loop over members
    in Python only up to `peers_up_to` members. Ratios: a batched row's seconds per loop step to the bare step's
    (vs_bare; eager loops drop finished members, so their later steps are cheaper), compiled env steps/s to eager
    ones (vs_eager); every row's env steps/s to EvoTorch's fastest (vs_evotorch_best) and to EvoX's evaluation
    (vs_evox)."""
    rows: list[dict[str, Any]] = []
    for popsize in popsizes:
        paths = Paths(task, hidden, popsize, episodes, repeats)
        small = popsize <= peers_up_to
        group = [paths.evolstm("local", "cpu")] if small else []
        if has_batched_form(paths.experiment.task.id):
            for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
                bare = paths.bare(device)
                batched = [paths.evolstm("batched", device)]
                if "compile" in peers:
                    batched.append(paths.evolstm("batched", device, compile=True))
                    batched[1]["vs_eager"] = batched[1]["env_steps_per_s"] / batched[0]["env_steps_per_s"]
                for row in batched:
                    row["vs_bare"] = row["step_ms"] / bare["step_ms"]
                group += [batched[0], bare, *batched[1:]]
        if "evotorch" in peers:
            group += [paths.evotorch(False, False), paths.evotorch(True, False)] if small else []
            if has_batched_form(paths.experiment.task.id):
                group.append(paths.evotorch(True, True))
        if "evox" in peers and has_batched_form(paths.experiment.task.id):
            group += paths.evox()
        _ratios(group)
        for row in group:
            row.update(
                popsize=popsize,
                episodes=episodes,
                hidden=hidden,
                task=paths.experiment.task.id,
                threads=torch.get_num_threads(),
            )
        rows.extend(group)
    return rows


def _ratios(group: list[dict[str, Any]]) -> None:
    """Each row's env steps/s relative to EvoTorch's fastest row and to EvoX's evaluation, where those ran."""
    for prefix, key in (("evotorch", "vs_evotorch_best"), ("evox OpenES evaluate", "vs_evox")):
        reference = [r["env_steps_per_s"] for r in group if r["path"].startswith(prefix)]
        if reference:
            for row in group:
                if "env_steps_per_s" in row:
                    row[key] = row["env_steps_per_s"] / max(reference)
