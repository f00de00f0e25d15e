"""Seconds from starting `python -m evolstm.run EXPERIMENT` to its first progress line (the first step done), with the
milestones on the way (Ray's cluster ready, the run directory made): what a user waits before training shows."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evolstm import config

#: what each milestone's line starts with, in the order a run prints them (the Ray one only for a Ray backend)
MILESTONES = {"ray_ready": "ray: cluster ready", "run_dir": "evolstm: ", "first_step": ("gen ", "iter ")}


def import_seconds(repeats: int) -> list[float]:
    """Seconds for a fresh interpreter to import evolstm's training stack (torch, gymnasium, EvoTorch with the Ray and
    pandas it imports, the tasks): what every run pays before its own work."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import evolstm.training"], check=True)
        times.append(time.perf_counter() - start)
    return times


def milestones(experiment: Path, threads: int) -> dict[str, float]:
    """One run of the experiment, stopped (SIGTERM, by its pid) once its first step is printed: the seconds from the
    start of the process to each milestone's line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "evolstm.run", str(experiment), "--out", out, "--set", f"threads={threads}"]
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        seen: dict[str, float] = {}
        try:
            for line in process.stdout:
                for name, prefix in MILESTONES.items():
                    if name not in seen and line.startswith(prefix):
                        seen[name] = time.perf_counter() - start
                if "first_step" in seen:
                    break
        finally:
            process.send_signal(signal.SIGTERM)  # it stops at the end of its step, checkpointing
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if "first_step" not in seen:
        raise RuntimeError(f"{experiment}: the run printed no step (exit code {process.returncode})")
    return seen


def startup_rows(experiments: list[Path], repeats: int, threads: int) -> list[dict[str, Any]]:
    """Median, min and max seconds to each milestone per experiment, and to import the training stack, over `repeats`
    runs."""
    rows = [_row("import evolstm.training", "-", [{"done": t} for t in import_seconds(repeats)])]
    for experiment in experiments:
        backend = config.load(experiment).evaluation.backend
        rows.append(_row(str(experiment), backend, [milestones(experiment, threads) for _ in range(repeats)]))
    return rows


def _row(what: str, backend: str, runs: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"what": what, "backend": backend, "runs": len(runs)}
    for name in runs[0]:
        values = [run[name] for run in runs]
        row[name] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return row


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table: seconds from the process start, median (min-max)."""
    names = ["done", *MILESTONES]
    lines = ["| what | backend | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for row in rows:
        cells = [f"{row[n]['median']:.1f} ({row[n]['min']:.1f}-{row[n]['max']:.1f})" if n in row else "" for n in names]
        lines.append(f"| {row['what']} | {row['backend']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
