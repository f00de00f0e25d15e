"""Timing an in-process evaluator on a population: median seconds, env steps/s, and the table of such rows."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.seeding import episode_seeds


def median_time(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
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


def evaluator_row(
    name: str, evaluator: VectorEvaluator, params: torch.Tensor, episodes: int, repeats: int
) -> dict[str, Any]:
    """Env steps/s (real, unfinished-episode steps) and policy steps/s (members x episodes x loop steps) of scoring
    `params` greedily, `episodes` episodes each."""
    seeds = episode_seeds(0, "population", 0, len(params), episodes)
    norm = ObsNorm.identity(evaluator.spec.obs_dim)
    seconds, results = median_time(lambda: evaluator.score(params, seeds, norm), repeats)
    steps = results.env_steps
    loop_steps = int(results.lengths.max())
    return {
        "path": name,
        "env_steps": steps,
        "seconds": seconds,
        "env_steps_per_s": steps / seconds,
        "step_ms": 1000 * seconds / loop_steps,
        "policy_steps_per_s": params.shape[0] * episodes * loop_steps / seconds,
        "mean_episode_length": float(results.lengths.mean()),
        "mean_return": float(results.returns.mean()),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of the rows ("-" for figures a path does not have)."""
    header = (
        f"{'task':<28} {'pop':>5} {'path':<22} {'env steps/s':>12} {'policy steps/s':>15} {'x EvoTorch':>10} "
        f"{'step ms':>8} {'bare ms':>8} {'x bare':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:

        def num(key: str, fmt: str) -> str:
            """The row's figure under `key` in `fmt`, or "-"."""
            return format(r[key], fmt) if r.get(key) is not None else "-"

        lines.append(
            f"{r['task']:<28} {r['popsize']:>5} {r['path']:<22} {num('env_steps_per_s', ',.0f'):>12} "
            f"{num('policy_steps_per_s', ',.0f'):>15} {num('vs_evotorch_best', '.1f'):>10} {num('step_ms', '.3f'):>8} "
            f"{num('bare_step_ms', '.3f'):>8} {num('vs_bare', '.2f'):>7}"
        )
    return "\n".join(lines)
