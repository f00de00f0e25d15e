"""`bench memory`: the longest memory span each trainer bridges with an LSTM within a stated env-step budget.

Tasks: the passive T-maze of Ni et al. (2023), whose only difficulty is memory (the cue shows once, the corridor is
walked at one cell per step, the turn decides), and Bakker's T-maze (2002). For each task and trainer the corridor
grows through `lengths`; a length counts as solved when an exported policy's mean return over 100 fresh episodes
reaches SOLVED_SHARE of the optimum. A series stops at its first unsolved length (longer ones are not tried). Each
run is the committed experiment `experiments/memory/TASK-TRAINER.yaml` with the length and the budget set, so any
cell can be rerun alone with `python -m evolstm.run` and the overrides its row names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evolstm.bench.suites import Cell, best_return, env_step_budget

EXPERIMENTS = Path("experiments/memory")
#: task name -> (Gymnasium id, optimal return, default lengths)
TASKS: dict[str, tuple[str, float, tuple[int, ...]]] = {
    "passive": ("evolstm/PassiveTMaze-v0", 1.0, (10, 30, 50, 100, 300, 500, 1000)),
    "bakker": ("evolstm/TMaze-v0", 4.0, (10, 30, 50, 100, 200, 300)),
}
SOLVED_SHARE = 0.99
#: env steps per run unless given: ES's population steps cheaply in one batched program, REINFORCE pays a backward
#: pass through every step
BUDGETS = {"es": 200_000_000, "reinforce": 20_000_000}


def series(
    tasks: list[str], trainers: list[str], lengths: list[int] | None, budgets: dict[str, int], seed: int
) -> list[list[Cell]]:
    """One series of cells per task and trainer, lengths growing; the budget is in env steps only."""
    found = []
    for task in tasks:
        task_id, optimum, default_lengths = TASKS[task]
        for trainer in trainers:
            found.append(
                [
                    Cell(
                        EXPERIMENTS / f"{task}-{trainer}.yaml",
                        (
                            f"seed={seed}",
                            f"task.kwargs.length={length}",
                            *env_step_budget(trainer, budgets[trainer]),
                            f"trainer.stop_at={optimum}",
                        ),
                        {"task": task, "task_id": task_id, "trainer": trainer, "length": length, "optimum": optimum},
                    )
                    for length in (lengths or default_lengths)
                ]
            )
    return found


def solved(row: dict[str, Any]) -> bool:
    """Whether the row's best policy reached SOLVED_SHARE of the optimum."""
    return best_return(row) >= SOLVED_SHARE * row["optimum"]


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    """The longest span per task and trainer, then every run."""
    lines = [header, "", "| task | trainer | longest length solved | tried up to |", "|---|---|---:|---:|"]
    for task in dict.fromkeys(r["task"] for r in rows):
        for trainer in dict.fromkeys(r["trainer"] for r in rows if r["task"] == task):
            mine = [r for r in rows if r["task"] == task and r["trainer"] == trainer]
            longest = max((r["length"] for r in mine if solved(r)), default=None)
            lines.append(f"| {task} | {trainer} | {longest or 'none'} | {max(r['length'] for r in mine)} |")
    lines += [
        "",
        "| task | trainer | length | best return (100 fresh episodes) | solved | env steps | minutes |",
        "|---|---|---:|---:|:---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['trainer']} | {r['length']} | {best_return(r):.3f} | {'yes' if solved(r) else 'no'} "
            f"| {r['env_steps']:,} | {r['seconds'] / 60:.1f} |"
        )
    return "\n".join(lines) + "\n"


def figure(rows: list[dict[str, Any]], path: Path) -> None:
    """Best return (as a share of the optimum) against corridor length, one line per task and trainer."""
    from evolstm.plots import plt, save_png  # pyplot on the file-only backend

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for task in dict.fromkeys(r["task"] for r in rows):
        for trainer in dict.fromkeys(r["trainer"] for r in rows if r["task"] == task):
            mine = [r for r in rows if r["task"] == task and r["trainer"] == trainer]
            ax.plot(
                [r["length"] for r in mine],
                [best_return(r) / r["optimum"] for r in mine],
                marker="o",
                label=f"{task} T-maze, {trainer}",
            )
    ax.axhline(SOLVED_SHARE, color="gray", linestyle=":", linewidth=1, label=f"solved ({SOLVED_SHARE:.0%})")
    ax.set_xscale("log")
    ax.set_xlabel("corridor length L")
    ax.set_ylabel("best return / optimum (100 fresh episodes)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=120)
