"""Non-finite returns and observations: reported with the member and generation, handled by the documented rule
(ES: worst fitness; REINFORCE: update skipped), never reaching the search distribution or the weights."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
import yaml

from evolstm.evaluation import make_evaluator
from evolstm.policies import Policy
from evolstm.environment import policy_spec
from evolstm.run import main
from evolstm.runs import read_metrics
from evolstm.trainers import Trainer, make_trainer
from evolstm.trainers.base import DivergedError
from tests.conftest import make_experiment


class Unstable(gymnasium.Env):
    """Four steps; `broken` decides which episodes (by reset seed) go wrong and `what` goes non-finite."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self, broken: str = "some", what: str = "reward") -> None:
        self.broken, self.what = broken, what

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        self.bad = self.broken == "all" or (seed is not None and seed % 3 == 0)
        return np.array([self.np_random.uniform(-1, 1), 0.0], np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        nan = self.bad and self.t == 2
        obs = np.array([math.nan if nan and self.what == "obs" else 0.5, self.t / 4], np.float32)
        reward = math.nan if nan and self.what == "reward" else float(action)
        if self.bad and self.what == "huge":
            reward = 3e38  # finite, but returns-to-go overflow
        return obs, reward, self.t == 4, False, {}


gymnasium.register("Unstable-v0", entry_point=Unstable)


def _trainer(broken: str, what: str = "reward", **sections: Any) -> Trainer:
    experiment = make_experiment(task={"id": "Unstable-v0", "kwargs": {"broken": broken, "what": what}}, **sections)
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(0)
    return make_trainer(experiment, make_evaluator(experiment, spec), spec, Policy(spec).flat())


def test_es_gives_nonfinite_members_the_worst_fitness_and_says_who() -> None:
    trainer = _trainer("some", trainer={"generations": 4})
    rows = [trainer.step() for _ in range(4)]
    assert sum(row["nonfinite"] for row in rows) > 0
    warnings = [w for row in rows for w in row.get("warnings", ())]
    assert any("non-finite returns from members" in w and "treated as the worst fitness" in w for w in warnings)
    assert all(math.isfinite(row[key]) for row in rows for key in ("best", "mean", "worst", "best_ever", "stdev"))
    assert torch.isfinite(trainer.center()).all()
    assert all(torch.isfinite(value).all() for value in trainer.searcher.status["stdev"].reshape(1, -1))


def test_es_stops_when_every_member_is_nonfinite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(DivergedError, match="generation 0: every member's return is non-finite"):
        _trainer("all").step()
    data = make_experiment(task={"id": "Unstable-v0", "kwargs": {"broken": "all"}}).model_dump(mode="json")
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(data))
    assert main([str(tmp_path / "x.yaml"), "--out", str(tmp_path / "runs"), "--quiet"]) == 1
    assert capsys.readouterr().err.startswith("error: generation 0: every member's return is non-finite")
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "summary.json").exists() and (run / "checkpoint.pt").exists()


def test_reinforce_skips_the_update_and_keeps_weights_and_optimizer_finite() -> None:
    trainer = _trainer("all", trainer={"kind": "reinforce", "episodes": 4, "iterations": 3, "baseline": "value"})
    before = trainer.params()
    row = trainer.step()
    assert row["skipped"] is True and row["mean"] is None
    assert row["warnings"][0] == "iteration 0: non-finite rewards or observations; update skipped"
    assert torch.equal(trainer.params(), before)
    assert math.isfinite(trainer.return_mean) and math.isfinite(trainer.return_std)


@pytest.mark.parametrize("what", ["huge", "obs"])
def test_reinforce_survives_overflowing_returns_and_nan_observations(what: str) -> None:
    trainer = _trainer("all", what, trainer={"kind": "reinforce", "episodes": 4, "iterations": 3})
    before = trainer.params()
    rows = [trainer.step() for _ in range(2)]
    assert all(row["skipped"] for row in rows) and torch.equal(trainer.params(), before)
    assert all("update skipped" in row["warnings"][0] for row in rows)
    assert math.isfinite(trainer.return_mean) and math.isfinite(trainer.return_std)
    assert all(
        value is None or math.isfinite(value) for row in rows for value in row.values() if isinstance(value, float)
    )


def test_nonfinite_observations_leave_the_normalizer_alone(capsys: pytest.CaptureFixture) -> None:
    trainer = _trainer("all", "obs", trainer={"generations": 2}, policy={"obs_norm": True})
    row = trainer.step()
    assert any("non-finite observations; normalizer not updated" in w for w in row["warnings"])
    assert np.isfinite(trainer.norm.mean).all() and np.isfinite(trainer.norm.std).all()


def test_the_cli_prints_warnings_and_records_them(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = make_experiment(task={"id": "Unstable-v0", "kwargs": {}}, trainer={"generations": 3}).model_dump(mode="json")
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(data))
    assert main([str(tmp_path / "x.yaml"), "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning: generation" in err and "treated as the worst fitness" in err
    (run,) = (tmp_path / "runs").iterdir()
    assert sum(row["nonfinite"] for row in read_metrics(run)) > 0


def test_a_diverged_search_distribution_stops_the_run_naming_the_generation() -> None:
    """A NaN spread (e.g. CEM with too few parents) used to go on silently: a NaN policy can score finite returns."""
    experiment = make_experiment()
    spec = policy_spec(experiment.task, experiment.policy)
    trainer = make_trainer(experiment, make_evaluator(experiment, spec), spec, Policy(spec).flat())
    trainer.step()
    trainer.searcher._distribution.parameters["sigma"][0] = float("nan")  # the spread breaks in generation 1
    with pytest.raises(DivergedError, match=r"generation 1: the searcher's stdev is no longer finite"):
        trainer.step()
    assert "center" not in trainer.exports() or torch.isfinite(trainer.exports()["center"].params).all()
