"""Learning, asserted: per trainer and task, a small fixed-seed budget reaches a return that chance cannot."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from evolstm.config import TRAINER_KINDS
from evolstm.training import train
from evolstm.tasks import TASK_IDS
from tests.conftest import make_experiment

TMAZE = {"task": {"kwargs": {"length": 4}}, "policy": {"hidden": 8}}
CARTPOLE = {"task": {"kwargs": {}}, "policy": {"hidden": 8, "obs_norm": True}}
#: obs_norm makes the junction's rare [1, 0] stand out from the corridor's [0, 0] (without it, and with REINFORCE's
#: default entropy bonus, the pace penalty's "right" takes over the junction too on some seeds)
PASSIVE = {"task": {"kwargs": {"length": 4}}, "policy": {"hidden": 8, "obs_norm": True}}
REPEAT = {"task": {"kwargs": {"symbols": 2, "lag": 1, "length": 8}}, "policy": {"hidden": 8}}
REINFORCE = {"kind": "reinforce", "learning_rate": 0.01}
#: pole balancing in 1,000-step episodes (the benchmark's are 100,000), deterministic starts: one final episode
POLES = {"policy": {"hidden": 8}, "evaluation": {"backend": "batched", "greedy_episodes": 1, "final_episodes": 1}}
CMAES = {"algorithm": "cmaes", "popsize": 32, "episodes": 1, "stdev_init": 0.5, "stop_at": 1000.0}

#: (trainer, task id) -> (experiment sections, exported policy, return it must reach on fresh episodes, chance level)
BUDGETS: dict[tuple[str, str], tuple[dict[str, Any], str, float, float]] = {
    ("es", "evolstm/TMaze-v0"): (
        {
            **TMAZE,
            "trainer": {"popsize": 32, "episodes": 16, "common_random_numbers": True, "generations": 60},
            "evaluation": {"greedy_episodes": 16, "final_episodes": 100},
        },
        "best",
        3.9,
        1.95,
    ),
    ("reinforce", "evolstm/TMaze-v0"): (
        {
            **TMAZE,
            "trainer": {**REINFORCE, "episodes": 32, "iterations": 400, "discount": 0.98, "stop_at": 4.0},
            "evaluation": {"greedy_episodes": 32, "greedy_every": 10, "final_episodes": 100},
        },
        "best",
        3.9,
        1.95,
    ),
    ("es", "evolstm/PassiveTMaze-v0"): (
        {
            **PASSIVE,
            "trainer": {"popsize": 32, "episodes": 16, "common_random_numbers": True, "generations": 60},
            "evaluation": {"greedy_episodes": 16, "final_episodes": 100},
        },
        "best",
        0.95,
        0.5,
    ),
    ("reinforce", "evolstm/PassiveTMaze-v0"): (
        {
            **PASSIVE,
            "trainer": {
                **REINFORCE,
                "episodes": 32,
                "iterations": 400,
                "discount": 0.98,
                "entropy_coef": 0.1,
                "stop_at": 1.0,
            },
            "evaluation": {"greedy_episodes": 32, "greedy_every": 10, "final_episodes": 100},
        },
        "best",
        0.95,
        0.5,
    ),
    ("es", "evolstm/MaskedCartPole-v0"): (
        {
            **CARTPOLE,
            "trainer": {"popsize": 32, "episodes": 2, "generations": 100, "stop_at": 500.0},
            "evaluation": {"greedy_episodes": 10, "final_episodes": 20},
        },
        "center",
        475.0,
        25.0,
    ),
    ("reinforce", "evolstm/MaskedCartPole-v0"): (
        {
            **CARTPOLE,
            "trainer": {**REINFORCE, "episodes": 16, "iterations": 300, "entropy_coef": 0.0, "stop_at": 500.0},
            "evaluation": {"greedy_episodes": 10, "greedy_every": 5, "final_episodes": 20},
        },
        "best",
        475.0,
        25.0,
    ),
    ("es", "evolstm/RepeatPrevious-v0"): (
        {
            **REPEAT,
            "trainer": {"popsize": 32, "episodes": 8, "common_random_numbers": True, "generations": 60},
            "evaluation": {"greedy_episodes": 8, "final_episodes": 100},
        },
        "center",
        0.9,
        0.5,
    ),
    ("reinforce", "evolstm/RepeatPrevious-v0"): (
        {
            **REPEAT,
            "trainer": {**REINFORCE, "episodes": 32, "iterations": 150, "discount": 0.9},
            "evaluation": {"greedy_episodes": 32, "greedy_every": 10, "final_episodes": 100},
        },
        "final",
        0.9,
        0.5,
    ),
    # chance: an untrained network pushes little, and the poles fall after ~20 steps
    ("es", "evolstm/SinglePoleNoVel-v0"): (
        {**POLES, "task": {"kwargs": {"max_steps": 1000}}, "trainer": {**CMAES, "generations": 60}},
        "center",
        1000.0,
        30.0,
    ),
    ("reinforce", "evolstm/SinglePoleNoVel-v0"): (
        {
            **POLES,
            "task": {"kwargs": {"max_steps": 1000}},
            "trainer": {**REINFORCE, "episodes": 16, "iterations": 300, "stop_at": 1000.0},
            "evaluation": {**POLES["evaluation"], "greedy_every": 5},
        },
        "best",
        1000.0,
        30.0,
    ),
    ("es", "evolstm/DoublePoleNoVel-v0"): (
        {**POLES, "task": {"kwargs": {"max_steps": 1000}}, "trainer": {**CMAES, "generations": 100}},
        "best",
        300.0,
        30.0,
    ),
    ("reinforce", "evolstm/DoublePoleNoVel-v0"): (
        {
            **POLES,
            "task": {"kwargs": {"max_steps": 1000}},
            "trainer": {**REINFORCE, "episodes": 16, "iterations": 200, "stop_at": 1000.0},
            "evaluation": {**POLES["evaluation"], "greedy_every": 5},
        },
        "final",
        50.0,
        30.0,
    ),
}
CASES = list(itertools.product(TRAINER_KINDS, TASK_IDS))


def test_every_trainer_and_task_has_a_learning_budget() -> None:
    assert set(BUDGETS) == set(CASES)


@pytest.mark.slow
@pytest.mark.parametrize(("trainer", "task_id"), CASES)
def test_lstm_learns_the_task(trainer: str, task_id: str, tmp_path: Path) -> None:
    sections, exported, target, chance = BUDGETS[(trainer, task_id)]
    sections = {**sections, "task": {"id": task_id, **sections["task"]}}
    run = train(make_experiment(**sections), tmp_path, quiet=True)
    final = json.loads((run.path / "summary.json").read_text())["final_evaluation"]
    assert final[exported]["mean_return"] >= target > chance, final


@pytest.mark.slow
def test_feedforward_stays_at_chance_on_the_tmaze(tmp_path: Path) -> None:
    sections, _, _, chance = BUDGETS[("es", "evolstm/TMaze-v0")]
    sections = {**sections, "policy": {"kind": "feedforward", "hidden": 8}}
    run = train(make_experiment(**sections), tmp_path, quiet=True)
    final = json.loads((run.path / "summary.json").read_text())["final_evaluation"]
    assert max(result["mean_return"] for result in final.values()) <= chance + 0.5, final


@pytest.mark.slow
def test_reinforce_learns_box_actions(tmp_path: Path) -> None:
    """Box actions: the Gaussian policy learns to recall a cue as a continuous action (chance: return 0)."""
    experiment = make_experiment(
        task={"id": "tests.cue_box:CueBox-v0", "kwargs": {"length": 3}},
        policy={"hidden": 8},
        trainer={**REINFORCE, "episodes": 32, "iterations": 200, "discount": 1.0, "stop_at": 0.9},
        evaluation={"greedy_episodes": 32, "greedy_every": 10, "final_episodes": 100},
    )
    run = train(experiment, tmp_path, quiet=True)
    final = json.loads((run.path / "summary.json").read_text())["final_evaluation"]
    assert final["best"]["mean_return"] >= 0.9, final


#: two cue bits to recall in two action dimensions (tests/multi_discrete_env.py): return 1 at best, 5/12 for uniform
#: random actions, at most 0.5 without memory and 0.75 remembering one bit only
CUE_MULTI = {"task": {"id": "tests.multi_discrete_env:CueMulti-v0", "kwargs": {"length": 3}}, "policy": {"hidden": 8}}


@pytest.mark.slow
def test_reinforce_learns_multi_discrete_actions(tmp_path: Path) -> None:
    """MultiDiscrete actions: one categorical per dimension, each recalling its own cue bit."""
    experiment = make_experiment(
        **CUE_MULTI,
        trainer={**REINFORCE, "episodes": 32, "iterations": 200, "discount": 1.0, "stop_at": 1.0},
        evaluation={"greedy_episodes": 32, "greedy_every": 10, "final_episodes": 100},
    )
    run = train(experiment, tmp_path, quiet=True)
    final = json.loads((run.path / "summary.json").read_text())["final_evaluation"]
    assert final["best"]["mean_return"] >= 0.95, final


@pytest.mark.slow
def test_es_learns_multi_discrete_actions(tmp_path: Path) -> None:
    """MultiDiscrete actions under ES: the greedy action is the argmax within each dimension's block."""
    experiment = make_experiment(
        **CUE_MULTI,
        trainer={"popsize": 32, "episodes": 8, "common_random_numbers": True, "generations": 60},
        evaluation={"greedy_episodes": 32, "final_episodes": 100},
    )
    run = train(experiment, tmp_path, quiet=True)
    final = json.loads((run.path / "summary.json").read_text())["final_evaluation"]
    assert final["center"]["mean_return"] >= 0.95, final
