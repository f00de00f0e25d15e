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


def median_run(runs: list[tuple]) -> tuple:
    """The run whose first figure (a rate) is the median (the lower one for an even count), so that the figures
    reported together come from one run."""
    rates = [run[0] for run in runs]
    return runs[rates.index(statistics.median_low(rates))]


def evaluator_row(
    name: str, evaluator: VectorEvaluator, params: torch.Tensor, episodes: int, repeats: int
) -> dict[str, Any]:
    """Env steps/s (real, unfinished-episode steps) of scoring `params` greedily, `episodes` episodes each, and the
    seconds per loop step (the loop runs until the longest episode ends)."""
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
        "mean_episode_length": float(results.lengths.mean()),
        "mean_return": float(results.returns.mean()),
    }


#: the table's columns: (header, row key, format, width)
COLUMNS = (
    ("env steps/s", "env_steps_per_s", ",.0f", 12),
    ("step ms", "step_ms", ".3f", 8),
    ("x bare", "vs_bare", ".2f", 7),
    ("x eager", "vs_eager", ".2f", 7),
    ("x EvoTorch", "vs_evotorch_best", ".1f", 10),
    ("x EvoX", "vs_evox", ".2f", 7),
    ("KB/member", "kb_per_member", ",.1f", 10),
)


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of the rows ("-" for figures a path does not have)."""
    header = f"{'task':<28} {'pop':>6} {'path':<30} " + " ".join(f"{title:>{width}}" for title, _, _, width in COLUMNS)
    lines = [header, "-" * len(header)]
    for r in rows:
        figures = " ".join(
            f"{format(r[key], fmt) if r.get(key) is not None else '-':>{width}}" for _, key, fmt, width in COLUMNS
        )
        lines.append(f"{r['task']:<28} {r['popsize']:>6} {r['path']:<30} {figures}")
    return "\n".join(lines)
