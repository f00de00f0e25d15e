"""Learning, asserted: a tiny fixed-seed ES budget per task reaches a return a memoryless or random policy cannot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evolstm.run import train
from evolstm.tasks import TASK_IDS
from tests.conftest import make_experiment

#: task id -> (experiment sections, exported policy, return it must reach on fresh episodes, what chance gets)
BUDGETS: dict[str, tuple[dict[str, Any], str, float, float]] = {
    "evolstm/TMaze-v0": (
        {"task": {"kwargs": {"length": 4}}, "policy": {"hidden": 8},
         "trainer": {"popsize": 32, "generations": 60},
         "evaluation": {"episodes": 16, "common_random_numbers": True, "final_episodes": 100}},
        "best", 3.9, 1.95,
    ),
    "evolstm/MaskedCartPole-v0": (
        {"task": {"kwargs": {}}, "policy": {"hidden": 8, "obs_norm": True},
         "trainer": {"popsize": 32, "generations": 100, "stop_at": 500.0},
         "evaluation": {"episodes": 2, "center_episodes": 10, "final_episodes": 20}},
        "center", 475.0, 25.0,
    ),
    "evolstm/RepeatPrevious-v0": (
        {"task": {"kwargs": {"symbols": 2, "lag": 1, "length": 8}}, "policy": {"hidden": 8},
         "trainer": {"popsize": 32, "generations": 60},
         "evaluation": {"episodes": 8, "common_random_numbers": True, "final_episodes": 100}},
        "center", 0.9, 0.5,
    ),
}


def test_every_task_has_a_learning_budget() -> None:
    assert set(BUDGETS) == set(TASK_IDS)


@pytest.mark.slow
@pytest.mark.parametrize("task_id", TASK_IDS)
def test_lstm_learns_the_task(task_id: str, tmp_path: Path) -> None:
    sections, exported, target, chance = BUDGETS[task_id]
    sections = {**sections, "task": {"id": task_id, **sections["task"]}}
    run = train(make_experiment(**sections), tmp_path, quiet=True)
    final = json.loads((run.path / "summary.json").read_text())["final_evaluation"]
    assert final[exported]["mean_return"] >= target > chance, final


@pytest.mark.slow
def test_feedforward_stays_at_chance_on_the_tmaze(tmp_path: Path) -> None:
    sections, _, _, chance = BUDGETS["evolstm/TMaze-v0"]
    run = train(make_experiment(**{**sections, "policy": {"kind": "feedforward", "hidden": 8}}), tmp_path, quiet=True)
    final = json.loads((run.path / "summary.json").read_text())["final_evaluation"]
    assert max(result["mean_return"] for result in final.values()) <= chance + 0.5, final
