"""Training suites: many experiments (a YAML file plus overrides each) trained to the end, spread over processes, each
run's summary and learning curve kept as one row. `bench memory` and `bench popgym` are such suites."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolstm import config

#: each trainer's step budget key, set to null so that a suite's env-step budget alone ends a run
BUDGET_KEYS = {"es": "generations", "reinforce": "iterations"}


def env_step_budget(trainer: str, steps: int) -> tuple[str, str]:
    """The overrides that make `steps` env steps a run's only budget."""
    return f"trainer.max_env_steps={steps}", f"trainer.{BUDGET_KEYS[trainer]}=null"


@dataclass(frozen=True)
class Cell:
    """One training run of a suite: the experiment file, the overrides that make it this cell, and what to call it."""

    experiment: Path
    overrides: tuple[str, ...]
    labels: dict[str, Any]


def check(cells: Sequence[Cell]) -> None:
    """Validate every cell's experiment now (ConfigError), so that a typo fails before hours of runs."""
    for cell in cells:
        config.load(cell.experiment, cell.overrides)


def best_return(row: dict[str, Any]) -> float:
    """A trained row's best exported policy: its mean return over the final fresh episodes."""
    return max(result["mean_return"] for result in row["final_evaluation"].values())


def train_cell(cell: Cell, out_root: Path, threads: int) -> dict[str, Any]:
    """Train one cell to its end (quietly) and return its labels, settings, summary and learning curve."""
    import torch

    from evolstm.training import train

    torch.set_num_threads(threads)
    experiment = config.load(cell.experiment, (*cell.overrides, f"threads={threads}"))
    began = time.perf_counter()
    run = train(experiment, out_root, quiet=True)
    summary = json.loads((run.path / "summary.json").read_text())
    rows = [curve_point(json.loads(line)) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    return {
        **cell.labels,
        "experiment": str(cell.experiment),
        "overrides": list(cell.overrides),
        "run_dir": str(run.path),
        "seconds": time.perf_counter() - began,
        "threads": threads,
        "env_steps": summary["env_steps"],
        "final_evaluation": summary["final_evaluation"],
        "error": summary["error"],
        "curve": rows,
    }


#: the metrics a suite's learning curves keep (returns, budget, time); the run directory has every column
CURVE_KEYS = (
    "generation",
    "iteration",
    "env_steps",
    "wall_time",
    "best",
    "mean",
    "median",
    "worst",
    "center",
    "greedy",
)


def curve_point(row: dict[str, Any]) -> dict[str, Any]:
    """One metrics row as a suite's curve keeps it: the CURVE_KEYS it has."""
    return {key: row[key] for key in CURVE_KEYS if key in row}


def train_series(
    series: Sequence[Cell], out_root: Path, threads: int, go_on: Callable[[dict[str, Any]], bool] | None
) -> list[dict[str, Any]]:
    """The cells of a series in order (e.g. ever longer corridors), until one's row fails `go_on` (if given)."""
    rows = []
    for cell in series:
        rows.append(train_cell(cell, out_root, threads))
        if go_on is not None and not go_on(rows[-1]):
            break
    return rows


def run_series(
    series: Sequence[Sequence[Cell]],
    out_root: Path,
    jobs: int,
    threads: int,
    go_on: Callable[[dict[str, Any]], bool] | None,
    report: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Every series trained (`train_series`), `jobs` at a time in spawned processes of `threads` torch threads each;
    rows in the series' order, each series' rows passed to `report` as soon as it is done. Every cell is validated
    first, so that a typo fails before hours of runs."""
    check([cell for cells in series for cell in cells])
    done: dict[int, list[dict[str, Any]]] = {}
    if jobs == 1:
        for i, cells in enumerate(series):
            done[i] = train_series(cells, out_root, threads, go_on)
            for row in done[i]:
                report(row)
    else:
        context = multiprocessing.get_context("spawn")  # each process starts its own torch
        with ProcessPoolExecutor(min(jobs, len(series)), mp_context=context) as pool:
            futures = {pool.submit(train_series, cells, out_root, threads, go_on): i for i, cells in enumerate(series)}
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                for row in done[futures[future]]:
                    report(row)
    return [row for i in range(len(series)) for row in done[i]]
