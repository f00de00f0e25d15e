"""Learning-curve figures: greedy return against env steps and against wall time, one line per run."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402

from evolstm.atomic import write_bytes  # noqa: E402


def plot_curves(runs: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Write a two-panel PNG: each run's evaluated greedy return ("center") vs env steps and vs wall time."""
    figure, (by_steps, by_time) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for label, rows in runs.items():
        points = [r for r in rows if r.get("center") is not None]
        returns = [r["center"] for r in points]
        by_steps.plot([r["env_steps"] for r in points], returns, label=label)
        by_time.plot([r["wall_time"] for r in points], returns, label=label)
    by_steps.set_xlabel("env steps")
    by_time.set_xlabel("wall time (s)")
    by_steps.set_ylabel("greedy return (ES: center)")
    for axis in (by_steps, by_time):
        axis.grid(alpha=0.3)
    by_steps.legend()
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    plt.close(figure)
    write_bytes(path, image.getvalue())
