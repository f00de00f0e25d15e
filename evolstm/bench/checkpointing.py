"""Checkpoint overhead on a real experiment: the time spent writing checkpoints as a share of the run, at the
default interval and others, and the run's wall time against checkpoints only at start and exit (interval 0)."""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from evolstm import config
from evolstm.trainers import TRAINERS
from evolstm.training import train


def checkpoint_overhead(experiment: Path, intervals: list[int], repeats: int) -> list[dict[str, Any]]:
    """One row per interval: medians over `repeats` runs (intervals interleaved, so machine noise hits all alike).
    `steps` counts the run's generations (ES) or iterations (REINFORCE), as `step_name` says."""
    step_name = TRAINERS[config.load(experiment).trainer.kind].STEP  # a mistake in the file fails before any run
    runs: dict[int, list[dict[str, Any]]] = {every: [] for every in intervals}
    for _ in range(repeats):
        for every in intervals:
            setting = config.load(experiment, (f"checkpoint_every={every}",))
            with tempfile.TemporaryDirectory() as folder:
                run = train(setting, Path(folder), quiet=True)
                runs[every].append(json.loads((run.path / "summary.json").read_text()))
    rows = []
    for every, summaries in runs.items():
        wall = statistics.median(s["wall_time"] for s in summaries)
        seconds = statistics.median(s["checkpoint"]["seconds"] for s in summaries)
        writes = summaries[0]["checkpoint"]["writes"]
        rows.append(
            {
                "experiment": experiment.name,
                "checkpoint_every": every,
                "step_name": step_name,
                "steps": summaries[0][f"{step_name}s"],
                "writes": writes,
                "wall_time_s": round(wall, 3),
                "checkpoint_s": round(seconds, 4),
                "per_write_ms": round(1000 * seconds / writes, 2),
                "share_of_run_pct": round(100 * seconds / wall, 2),
                "threads": summaries[0]["threads"],
            }
        )
    base = next((r["wall_time_s"] for r in rows if r["checkpoint_every"] == 0), None)
    for row in rows:
        row["wall_vs_interval_0_pct"] = round(100 * (row["wall_time_s"] / base - 1), 1) if base else None
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a fixed-width table."""
    header = ("every", "steps", "writes", "wall s", "ckpt s", "ms/write", "share %", "vs every=0 %")
    keys = (
        "checkpoint_every",
        "steps",
        "writes",
        "wall_time_s",
        "checkpoint_s",
        "per_write_ms",
        "share_of_run_pct",
        "wall_vs_interval_0_pct",
    )
    lines = ["".join(f"{h:>14}" for h in header)]
    lines += ["".join(f"{str(row[k]):>14}" for k in keys) for row in rows]
    return "\n".join(lines)
