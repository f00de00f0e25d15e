"""Throughput of population evaluation: env steps/s of the local per-env path, the batched path (cpu, and cuda when
present) and EvoTorch's GymNE / VecGymNE, for several population sizes, plus the bare tensor cost of one batched step.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from evolstm import config
from evolstm.bench.evotorch_baseline import evotorch_throughput
from evolstm.evaluation import Evaluator
from evolstm.evaluation.batched import BatchedEvaluator
from evolstm.evaluation.local import LocalEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PolicySpec, PopulationPolicy
from evolstm.run import policy_spec
from evolstm.seeding import episode_seeds


def _median_time(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of `repeats` calls after one warm-up call, and the last call's result."""
    result = run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


#: spread of the benchmark populations (evolstm: around the default init; EvoTorch: around zero), so that episode
#: lengths resemble a population in mid-search rather than the constant policies of a zero-width start
PARAM_STDEV = 0.1


def population(spec: PolicySpec, popsize: int, seed: int = 0) -> torch.Tensor:
    """A reproducible population: default-initialised networks perturbed by N(0, PARAM_STDEV^2)."""
    generator = torch.Generator().manual_seed(seed)
    center = Policy(spec).flat()
    return center + PARAM_STDEV * torch.randn(popsize, center.numel(), generator=generator)


def evaluator_row(name: str, evaluator: Evaluator, params: torch.Tensor, episodes: int, repeats: int) -> dict:
    """Env steps/s (real, unfinished-episode steps) and policy steps/s (members x episodes x loop steps)."""
    seeds = episode_seeds(0, "population", 0, len(params), episodes)
    norm = ObsNorm.identity(evaluator.spec.obs_dim)  # type: ignore[attr-defined]
    seconds, results = _median_time(lambda: evaluator.evaluate(params, seeds, norm), repeats)
    steps = results.env_steps
    loop_steps = int(results.lengths.max())
    return {
        "path": name, "env_steps": steps, "seconds": seconds, "env_steps_per_s": steps / seconds,
        "step_ms": 1000 * seconds / loop_steps,
        "policy_steps_per_s": params.shape[0] * episodes * loop_steps / seconds,
        "mean_episode_length": float(results.lengths.mean()), "mean_return": float(results.returns.mean()),
    }


def bare_step_cost(experiment: config.Experiment, spec: PolicySpec, params: torch.Tensor, episodes: int,
                   device: torch.device, steps: int = 200) -> float:
    """Seconds per lockstep step of just the population LSTM step plus the batched env's step at this batch."""
    evaluator = BatchedEvaluator(experiment.task, spec, str(device))
    count = len(params) * episodes
    env = evaluator.make_vector_env(count)
    env.reset(seed=0)
    policy = PopulationPolicy(spec, params.to(device))
    state = policy.initial_state(episodes)
    obs = torch.zeros(len(params), episodes, spec.obs_dim, device=device)
    actions = torch.zeros(count, dtype=torch.int64, device=device)

    def run() -> None:
        nonlocal state
        for _ in range(steps):
            _, state = policy.step(obs, state)
            env.step(actions)

    with torch.no_grad():
        seconds, _ = _median_time(run, 3)
    return seconds / steps


def throughput(task: dict[str, Any], hidden: int, popsizes: list[int], episodes: int, repeats: int,
               with_evotorch: bool) -> list[dict[str, Any]]:
    """One row per (popsize, path) with env steps/s and the ratio to EvoTorch's faster path."""
    experiment = config.from_dict({
        "name": "bench", "task": task, "policy": {"kind": "lstm", "hidden": hidden},
        "trainer": {"kind": "es", "popsize": max(popsizes)}, "evaluation": {"episodes": episodes},
    })
    spec = policy_spec(experiment)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows: list[dict[str, Any]] = []
    for popsize in popsizes:
        params = population(spec, popsize)
        group = [evaluator_row("evolstm local", LocalEvaluator(experiment.task, spec), params, episodes, repeats)]
        for device in devices:
            row = evaluator_row(f"evolstm batched {device.type}",
                                BatchedEvaluator(experiment.task, spec, device.type), params, episodes, repeats)
            row["bare_step_ms"] = 1000 * bare_step_cost(experiment, spec, params, episodes, device)
            row["vs_bare"] = row["step_ms"] / row["bare_step_ms"]
            group.append(row)
        if with_evotorch:
            for vectorized, name in ((False, "evotorch GymNE"), (True, "evotorch VecGymNE")):
                result = evotorch_throughput(task["id"], hidden, popsize, episodes, vectorized, repeats=repeats,
                                             env_kwargs=task.get("kwargs") or None, param_stdev=PARAM_STDEV)
                group.append({"path": name, **result})
            reference = max(r["env_steps_per_s"] for r in group if r["path"].startswith("evotorch"))
            for row in group:
                row["vs_evotorch_best"] = row["env_steps_per_s"] / reference
        for row in group:
            row.update(popsize=popsize, episodes=episodes, hidden=hidden, task=task["id"],
                       threads=torch.get_num_threads())
        rows.extend(group)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of the rows."""
    header = f"{'task':<28} {'pop':>5} {'path':<22} {'env steps/s':>12} {'policy steps/s':>15} {'x EvoTorch':>10} " \
             f"{'step ms':>8} {'bare ms':>8} {'x bare':>7}"
    lines = [header, "-" * len(header)]
    for r in rows:
        def num(key: str, fmt: str) -> str:
            return format(r[key], fmt) if r.get(key) is not None else "-"
        lines.append(
            f"{r['task']:<28} {r['popsize']:>5} {r['path']:<22} {num('env_steps_per_s', ',.0f'):>12} "
            f"{num('policy_steps_per_s', ',.0f'):>15} {num('vs_evotorch_best', '.1f'):>10} {num('step_ms', '.3f'):>8} "
            f"{num('bare_step_ms', '.3f'):>8} {num('vs_bare', '.2f'):>7}"
        )
    return "\n".join(lines)


def agreement(task: dict[str, Any], hidden: int, popsize: int, episodes: int, device: str = "cpu") -> float:
    """Largest |fitness difference| between the local path and the batched path on `device`, same seeds."""
    experiment = config.from_dict({
        "name": "bench", "task": task, "policy": {"kind": "lstm", "hidden": hidden},
        "trainer": {"kind": "es"}, "evaluation": {"episodes": episodes},
    })
    spec = policy_spec(experiment)
    params = population(spec, popsize)
    seeds = episode_seeds(0, "population", 0, popsize, episodes)
    norm = ObsNorm.identity(spec.obs_dim)
    local = LocalEvaluator(experiment.task, spec).evaluate(params, seeds, norm).returns
    batched = BatchedEvaluator(experiment.task, spec, device).evaluate(params, seeds, norm).returns
    return float(np.abs(local - batched).max())


def scaling(task: dict[str, Any], hidden: int, popsizes: list[int], episodes: int, device: str,
            repeats: int) -> list[dict[str, Any]]:
    """Batched-path throughput on `device` for growing populations (the GPU scaling table)."""
    experiment = config.from_dict({
        "name": "bench", "task": task, "policy": {"kind": "lstm", "hidden": hidden},
        "trainer": {"kind": "es"}, "evaluation": {"episodes": episodes},
    })
    spec = policy_spec(experiment)
    rows = []
    for popsize in popsizes:
        evaluator = BatchedEvaluator(experiment.task, spec, device)
        row = evaluator_row(f"evolstm batched {device}", evaluator, population(spec, popsize), episodes, repeats)
        row.update(popsize=popsize, episodes=episodes, hidden=hidden, task=task["id"], threads=torch.get_num_threads())
        rows.append(row)
        evaluator.close()
    return rows
