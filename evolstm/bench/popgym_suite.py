"""`bench popgym`: ES and REINFORCE with an LSTM on POPGym's memory tasks (Morad et al., ICLR 2023), several seeds
per cell, scored as POPGym scores: the max-mean-episodic-return (MMER), the best over training of the mean return of
the policy being trained, beside the return of the exported policy on 100 fresh episodes.

What "the policy being trained" plays differs by trainer: REINFORCE's is the batch of sampled episodes of each update
(as POPGym's PPO), ES's the greedy center on its evaluation episodes. Every run is the committed experiment
`experiments/popgym/TRAINER.yaml` with the task, the seed and the env-step budget set.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from evolstm.bench.suites import Cell, best_return, env_step_budget

EXPERIMENTS = Path("experiments/popgym")
ENVS = ("RepeatFirst", "RepeatPrevious", "CountRecall", "Autoencode", "PositionOnlyCartPole")
DIFFICULTIES = ("Easy", "Medium", "Hard")
#: the metrics column MMER is the running maximum of, per trainer
TRAINING_RETURN = {"es": "center", "reinforce": "mean"}
#: POPGym's PPO-GRU as the issue gives it ("as a guide"): the paper's own appendix tables could not be read here
ISSUE_GUIDE = {
    ("RepeatFirst", "Easy"): "about 1.0",
    ("RepeatFirst", "Medium"): "about 1.0",
    ("RepeatPrevious", "Easy"): "about 1.0",
    ("PositionOnlyCartPole", "Easy"): "about 1.0",
    ("PositionOnlyCartPole", "Medium"): "about 1.0",
    ("RepeatPrevious", "Medium"): "near or below 0",
    ("CountRecall", "Medium"): "near or below 0",
    ("Autoencode", "Easy"): "near or below 0",
    ("Autoencode", "Medium"): "near or below 0",
}


def task_id(env: str, difficulty: str) -> str:
    """POPGym's Gymnasium id of an env at a difficulty."""
    return f"popgym-{env}{difficulty}-v0"


def cells(envs: list[str], difficulties: list[str], trainers: list[str], seeds: int, budget: int) -> list[list[Cell]]:
    """One single-cell series per env, difficulty, trainer and seed (the suite runner's unit of work)."""
    return [
        [
            Cell(
                EXPERIMENTS / f"{trainer}.yaml",
                (
                    f"task.id={task_id(env, difficulty)}",
                    f"seed={seed}",
                    *env_step_budget(trainer, budget),
                ),
                {"env": env, "difficulty": difficulty, "trainer": trainer, "seed": seed},
            )
        ]
        for env in envs
        for difficulty in difficulties
        for trainer in trainers
        for seed in range(seeds)
    ]


def mmer(row: dict[str, Any]) -> float:
    """The run's max-mean-episodic-return: the highest mean return of the trained policy over its training rows."""
    key = TRAINING_RETURN[row["trainer"]]
    return max(r[key] for r in row["curve"] if r.get(key) is not None)


def _spread(values: list[float]) -> str:
    """mean ± sample std (± 0 for one value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {std:.3f}"


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    """One line per env, difficulty and trainer: MMER and final return over the seeds, env steps and minutes."""
    lines = [
        header,
        "",
        (
            "| env | difficulty | trainer | seeds | MMER | final return (100 fresh episodes) | env steps per run | "
            "minutes per run | PPO-GRU as the issue gives it |"
        ),
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["env"], row["difficulty"], row["trainer"]), []).append(row)
    for (env, difficulty, trainer), mine in groups.items():
        steps = statistics.fmean(r["env_steps"] for r in mine)
        minutes = statistics.fmean(r["seconds"] for r in mine) / 60
        lines.append(
            f"| {env} | {difficulty} | {trainer} | {len(mine)} | {_spread([mmer(r) for r in mine])} | "
            f"{_spread([best_return(r) for r in mine])} | {steps:,.0f} | {minutes:.1f} | "
            f"{ISSUE_GUIDE.get((env, difficulty), '')} |"
        )
    return "\n".join(lines) + "\n"
