"""`bench popgym`: a cell per env, difficulty, trainer and seed, scored by POPGym's MMER."""

from __future__ import annotations

import pytest

from evolstm.bench import popgym_suite
from evolstm.bench.suites import check
from evolstm.config import TRAINER_KINDS

pytest.importorskip("popgym")


def test_every_cell_is_a_valid_experiment() -> None:
    series = popgym_suite.cells(list(popgym_suite.ENVS), ["Easy", "Medium"], list(TRAINER_KINDS), 3, 1000)
    assert len(series) == len(popgym_suite.ENVS) * 2 * len(TRAINER_KINDS) * 3
    check([cell for cells in series for cell in cells])


def _row(trainer: str, seed: int, curve: list[dict]) -> dict:
    return {
        "env": "RepeatFirst",
        "difficulty": "Easy",
        "trainer": trainer,
        "seed": seed,
        "env_steps": 100,
        "seconds": 60.0,
        "curve": curve,
        "final_evaluation": {"best": {"mean_return": 0.5}, "center": {"mean_return": 0.25}},
    }


def test_mmer_is_the_running_best_of_the_trained_policys_mean_return() -> None:
    curve = [{"center": 0.1, "mean": 0.9}, {"center": 0.7, "mean": -1.0}, {"center": 0.3, "mean": 0.2}]
    assert popgym_suite.mmer(_row("es", 0, curve)) == 0.7  # the greedy center, not the perturbed members
    assert popgym_suite.mmer(_row("reinforce", 0, curve)) == 0.9  # the sampled batch, as POPGym's PPO
    table = popgym_suite.markdown([_row("es", 0, curve), _row("es", 1, [{"center": 0.5}])], "header")
    assert "| RepeatFirst | Easy | es | 2 | 0.600 ± 0.141 | 0.500 ± 0.000 | 100 | 1.0 | about 1.0 |" in table
