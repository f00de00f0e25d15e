"""Reset time of the batched tasks: every env's start state drawn from its seed in one batched call, so the time grows
like a tensor op over the envs, not like a Python loop."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from evolstm.bench.experiments import bench_experiment
from evolstm.environment import make_vector_env
from evolstm.seeding import episode_seeds


def reset_times(task: dict[str, Any], sizes: list[int], device: str, repeats: int) -> list[dict[str, Any]]:
    """Median seconds of `reset(seed=...)` with one seed per env (as the rollout resets), one row per env count."""
    experiment = bench_experiment(task, hidden=1, episodes=1)
    rows = []
    for count in sizes:
        envs = make_vector_env(experiment.task, count, "batched", torch.device(device))
        seeds = episode_seeds(0, "population", 0, count, 1).reshape(-1)
        envs.reset(seed=seeds)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            envs.reset(seed=seeds)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        envs.close()
        seconds = statistics.median(times)
        rows.append(
            {
                "task": experiment.task.id,
                "envs": count,
                "device": device,
                "reset_ms": 1000 * seconds,
                "ns_per_env": 1e9 * seconds / count,
                "threads": torch.get_num_threads(),
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of reset rows."""
    header = f"{'task':<28} {'envs':>8} {'device':>6} {'reset ms':>9} {'ns/env':>7}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['task']:<28} {r['envs']:>8,} {r['device']:>6} {r['reset_ms']:>9.2f} {r['ns_per_env']:>7.0f}")
    return "\n".join(lines)
