"""The report of `bench poles`: a markdown table of evolstm's runs beside the published figures (each with its
source), and a figure of the evaluations each solving run needed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only

import matplotlib.pyplot as plt  # noqa: E402

from evolstm.plots import save_png  # noqa: E402

GOMEZ_2008 = "Gomez, Schmidhuber & Miikkulainen, JMLR 9 (2008)"
#: mean evaluations to solve, as the issue quotes them: (method, task, fitness) -> (figure, source). DPNV from
#: Table 4 (50 runs), single pole without velocities from Table 2 (50 runs).
PUBLISHED: dict[tuple[str, str, str], tuple[float, str]] = {
    ("CoSyNE", "double", "standard"): (1249, f"{GOMEZ_2008}, Table 4"),
    ("CMA-ES", "double", "standard"): (3521, f"{GOMEZ_2008}, Table 4"),
    ("ESP", "double", "standard"): (7374, f"{GOMEZ_2008}, Table 4"),
    ("CNE", "double", "standard"): (76906, f"{GOMEZ_2008}, Table 4"),
    ("SANE", "double", "standard"): (262700, f"{GOMEZ_2008}, Table 4"),
    ("CoSyNE", "double", "damping"): (3416, f"{GOMEZ_2008}, Table 4"),
    ("CMA-ES", "double", "damping"): (6061, f"{GOMEZ_2008}, Table 4"),
    ("ESP", "double", "damping"): (26342, f"{GOMEZ_2008}, Table 4"),
    ("NEAT", "double", "damping"): (6929, f"{GOMEZ_2008}, Table 4"),
    ("CNE", "double", "damping"): (87623, f"{GOMEZ_2008}, Table 4"),
    ("SANE", "double", "damping"): (451612, f"{GOMEZ_2008}, Table 4"),
    ("CoSyNE", "single", "standard"): (127, f"{GOMEZ_2008}, Table 2"),
    ("ESP", "single", "standard"): (589, f"{GOMEZ_2008}, Table 2"),
    ("NEAT", "single", "standard"): (1523, f"{GOMEZ_2008}, Table 2"),
    ("CNE", "single", "standard"): (724, f"{GOMEZ_2008}, Table 2"),
    ("SANE", "single", "standard"): (1212, f"{GOMEZ_2008}, Table 2"),
}
TASK_NAMES = {"double": "double pole, no velocities (DPNV)", "single": "single pole, no velocities"}


def _number(value: float, digits: int = 0) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    """evolstm's rows, then for each task and fitness they cover, the published ones."""
    lines = [
        header,
        "",
        "| task | fitness | method | parameters | runs | solved | mean evaluations | median evaluations "
        "| mean 100k-step checks | generalization (of 625) | wall time |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {TASK_NAMES[r['task']]} | {r['fitness']} | evolstm {r['method']} | {r['num_params']} | {r['runs']} "
            f"| {r['solved']} ({r['success_rate']:.0%}) | {_number(r['mean_evaluations'])} "
            f"| {_number(r['median_evaluations'])} | {_number(r['mean_checks'], 1)} "
            f"| {_number(r['mean_generalization'], 1)} | {r['wall_seconds'] / 60:.1f} min |"
        )
    covered = {(r["task"], r["fitness"]) for r in rows}
    lines += ["", "| task | fitness | method (published) | mean evaluations | source |", "|---|---|---|---:|---|"]
    for (method, task, fitness), (figure, source) in PUBLISHED.items():
        if (task, fitness) in covered:
            lines.append(f"| {TASK_NAMES[task]} | {fitness} | {method} | {figure:,.0f} | {source} |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict[str, Any]], path: Path) -> None:
    """Evaluations of each solving run, one column per method and setting (log scale), CoSyNE's mean as a line."""
    groups = [(r, [run["evaluations"] for run in r["run_rows"] if run["solved"]]) for r in rows]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.4 * len(groups)), 4.0))
    for i, (row, evaluations) in enumerate(groups):
        ax.scatter([i] * len(evaluations), evaluations, s=10, alpha=0.6)
        published = PUBLISHED.get(("CoSyNE", row["task"], row["fitness"]))
        if published:
            ax.hlines(published[0], i - 0.4, i + 0.4, colors="black", linestyles="dashed")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{r['method']}\n{r['task']} {r['fitness']}" for r, _ in groups], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("evaluations to solve (each solved run)")
    ax.set_title("dashed: CoSyNE's mean (Gomez et al. 2008)", fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=120)
