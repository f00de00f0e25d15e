"""In-process vs Ray workers: seconds per generation of the in-process path against 1, 2, ... Ray workers on a
CPU-bound env, and Ray's own per-generation overhead (wall time minus the slowest worker's compute time)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from evolstm.bench.experiments import bench_experiment, population
from evolstm.environment import policy_spec
from evolstm.evaluation import make_evaluator
from evolstm.evaluation.ray import RayEvaluator
from evolstm.normalization import ObsNorm
from evolstm.seeding import episode_seeds

#: masked CartPole whose every step also burns 50 us, like an expensive simulator
TASK = {"id": "evolstm.bench.slow_env:SpinningMaskedCartPole-v0", "kwargs": {"step_us": 50.0}}


def ray_workers(worker_counts: list[int], popsize: int, hidden: int, generations: int) -> list[dict[str, Any]]:
    """One row for the in-process path (workers 0) and one per worker count, each with the median seconds of
    `generations` timed generations (one episode per member) after one warm-up generation."""
    rows: list[dict[str, Any]] = []
    for workers in [0, *worker_counts]:
        experiment = bench_experiment(TASK, hidden, 1, popsize, "ray" if workers else "local", workers or None)
        spec = policy_spec(experiment.task, experiment.policy)
        params = population(spec, popsize)
        norm = ObsNorm.identity(spec.obs_dim)
        evaluator = make_evaluator(experiment, spec)
        times, overheads, steps = [], [], 0
        for generation in range(generations + 1):  # the first one warms up (envs made, actors started)
            seeds = episode_seeds(0, "population", generation, popsize, 1)
            start = time.perf_counter()
            results = evaluator.score(params, seeds, norm)
            wall = time.perf_counter() - start
            if generation:
                times.append(wall)
                steps += results.env_steps
                if isinstance(evaluator, RayEvaluator):
                    overheads.append(wall - evaluator.last_compute_seconds)
        evaluator.close()
        rows.append(
            {
                "path": f"ray, {workers} worker{'s' * (workers > 1)}" if workers else "in-process",
                "workers": workers,
                "seconds_per_generation": statistics.median(times),
                "env_steps_per_s": steps / sum(times),
                "overhead_ms": 1000 * statistics.median(overheads) if overheads else None,
                "popsize": popsize,
            }
        )
    base = rows[0]["seconds_per_generation"]
    one = next((r["seconds_per_generation"] for r in rows if r["workers"] == 1), None)
    for row in rows:
        row["speedup_vs_in_process"] = base / row["seconds_per_generation"]
        row["speedup_vs_1_worker"] = None if one is None else one / row["seconds_per_generation"]
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of the rows ("-" where a row has no such figure)."""
    lines = [
        f"{'path':<16} {'s/generation':>12} {'env steps/s':>12} {'x in-process':>12} {'x 1 worker':>10} "
        f"{'Ray overhead ms':>15}"
    ]
    for r in rows:

        def num(key: str, fmt: str) -> str:
            """The row's figure under `key` in `fmt`, or "-"."""
            return "-" if r[key] is None else format(r[key], fmt)

        lines.append(
            f"{r['path']:<16} {num('seconds_per_generation', '.3f'):>12} {num('env_steps_per_s', ',.0f'):>12} "
            f"{num('speedup_vs_in_process', '.2f'):>12} {num('speedup_vs_1_worker', '.2f'):>10} "
            f"{num('overhead_ms', '.1f'):>15}"
        )
    return "\n".join(lines)
