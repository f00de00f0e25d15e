"""Ray scaling: generation time of the in-process path against 1, 2, ... Ray workers on a CPU-bound env, and Ray's
own per-generation overhead (wall time minus the slowest worker's compute time)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from evolstm import config
from evolstm.bench.throughput import population
from evolstm.evaluation.local import LocalEvaluator
from evolstm.evaluation.ray import RayEvaluator
from evolstm.normalization import ObsNorm
from evolstm.run import policy_spec
from evolstm.seeding import episode_seeds

TASK = {"id": "evolstm.bench.slow_env:SpinningMaskedCartPole-v0", "kwargs": {"step_us": 50.0}}


def scaling(worker_counts: list[int], popsize: int, hidden: int, generations: int) -> list[dict[str, Any]]:
    """One row for the in-process path and one per worker count, each with median seconds per generation."""
    rows: list[dict[str, Any]] = []
    for workers in [0, *worker_counts]:
        experiment = config.from_dict({
            "name": "bench", "task": TASK, "policy": {"kind": "lstm", "hidden": hidden},
            "trainer": {"kind": "es", "popsize": popsize},
            "evaluation": {"backend": "ray" if workers else "local", "workers": workers or 1, "episodes": 1},
        })
        spec = policy_spec(experiment)
        params = population(spec, popsize)
        norm = ObsNorm.identity(spec.obs_dim)
        evaluator = RayEvaluator(experiment, spec) if workers else LocalEvaluator(experiment.task, spec)
        times, overheads, steps = [], [], 0
        for generation in range(generations + 1):  # the first one warms up (envs made, actors started)
            seeds = episode_seeds(0, "population", generation, popsize, 1)
            start = time.perf_counter()
            results = evaluator.evaluate(params, seeds, norm)
            wall = time.perf_counter() - start
            if generation:
                times.append(wall)
                steps += results.env_steps
                if workers:
                    overheads.append(wall - evaluator.last_compute_seconds)
        evaluator.close()
        rows.append({
            "path": f"ray, {workers} worker{'s' * (workers > 1)}" if workers else "in-process", "workers": workers,
            "seconds_per_generation": statistics.median(times), "env_steps_per_s": steps / sum(times),
            "overhead_ms": 1000 * statistics.median(overheads) if overheads else None, "popsize": popsize,
        })
    base = rows[0]["seconds_per_generation"]
    one = rows[1]["seconds_per_generation"] if len(rows) > 1 else base
    for row in rows:
        row["speedup_vs_in_process"] = base / row["seconds_per_generation"]
        row["speedup_vs_1_worker"] = one / row["seconds_per_generation"]
    return rows


def format_scaling(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of the rows."""
    lines = [f"{'path':<16} {'s/generation':>12} {'env steps/s':>12} {'x in-process':>12} {'x 1 worker':>10} "
             f"{'Ray overhead ms':>15}"]
    for r in rows:
        overhead = "-" if r["overhead_ms"] is None else f"{r['overhead_ms']:.1f}"
        lines.append(f"{r['path']:<16} {r['seconds_per_generation']:>12.3f} {r['env_steps_per_s']:>12,.0f} "
                     f"{r['speedup_vs_in_process']:>12.2f} {r['speedup_vs_1_worker']:>10.2f} {overhead:>15}")
    return "\n".join(lines)
