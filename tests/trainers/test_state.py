"""Trainer state: for every searcher and for REINFORCE, a state saved through a checkpoint file (loaded in torch's
weights-only mode) continues exactly as the uninterrupted trainer does, bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from evolstm.checkpoints import load_checkpoint, restore_run, run_state, save_checkpoint
from evolstm.config import ES_ALGORITHMS
from evolstm.environment import policy_spec
from evolstm.evaluation import make_evaluator
from evolstm.policies import Policy
from evolstm.trainers import Trainer, make_trainer
from evolstm.trainers.searcher_state import KNOWN, UnknownStateError, capture_searcher
from tests.conftest import make_experiment

TRAINERS: dict[str, dict[str, Any]] = {
    **{f"es-{algorithm}": {"trainer": {"algorithm": algorithm, "generations": 6}} for algorithm in ES_ALGORITHMS},
    "es-obs-norm": {"trainer": {"generations": 6}, "policy": {"obs_norm": True}},
    "reinforce-value": {"trainer": {"kind": "reinforce", "episodes": 6, "iterations": 6, "baseline": "value"}},
    "reinforce-box-learned-std": {
        "task": {"id": "Pendulum-v1", "kwargs": {}, "max_episode_steps": 12},
        "trainer": {"kind": "reinforce", "episodes": 4, "iterations": 6, "learn_std": True, "optimizer": "rmsprop"},
        "policy": {"obs_norm": True},
    },
}


def _trainer(sections: dict[str, Any]) -> Trainer:
    experiment = make_experiment(**sections)
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(experiment.seed)
    return make_trainer(experiment, make_evaluator(experiment, spec), spec, Policy(spec).flat())


def _without_timing(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "step_time"}


@pytest.mark.parametrize("name", list(TRAINERS))
def test_a_saved_state_continues_exactly(name: str, tmp_path: Path) -> None:
    original = _trainer(TRAINERS[name])
    for _ in range(3):
        original.step()
    save_checkpoint(tmp_path / "checkpoint.pt", run_state(original, metrics_rows=3, wall_time=1.5))
    expected = [_without_timing(original.step()) for _ in range(3)]

    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["metrics_rows"] == 3 and state["wall_time"] == 1.5
    resumed = _trainer(TRAINERS[name])
    torch.manual_seed(12345)  # whatever the global generators did since, the checkpoint's state is put back
    restore_run(resumed, state)
    assert resumed.steps == 3
    assert [_without_timing(resumed.step()) for _ in range(3)] == expected
    for key, exported in original.exports().items():
        assert torch.equal(resumed.exports()[key].params, exported.params), key
        assert (resumed.exports()[key].norm.mean == exported.norm.mean).all()


@pytest.mark.parametrize("algorithm", ES_ALGORITHMS)
def test_every_supported_searcher_holds_only_known_state(algorithm: str) -> None:
    """Every attribute of each searcher evolstm offers is one searcher_state knows (captured or rebuilt), before
    and after it steps: an EvoTorch release that adds state fails here, not in a resume that drifts."""
    trainer = _trainer({"trainer": {"algorithm": algorithm, "generations": 6}})
    for _ in range(3):
        cls = type(trainer.searcher)
        unknown = set(vars(trainer.searcher)) - KNOWN[f"{cls.__module__}:{cls.__qualname__}"]
        assert not unknown, f"{cls.__qualname__} holds attributes searcher_state does not know: {sorted(unknown)}"
        capture_searcher(trainer.searcher)  # the objects inside it (distribution, optimizer, population) too
        trainer.step()


@pytest.mark.parametrize("where", ["searcher", "distribution"])
def test_saving_unknown_searcher_state_fails_naming_it(where: str) -> None:
    trainer = _trainer({"trainer": {"algorithm": "snes", "generations": 6}})
    trainer.step()
    holder = trainer.searcher if where == "searcher" else trainer.searcher._distribution
    holder._momentum_of_a_new_release = torch.zeros(3)  # state a newer EvoTorch might keep
    named = r"SNES: " if where == "searcher" else r"SNES\._distribution \(ExpSeparableGaussian\): "
    with pytest.raises(UnknownStateError, match=named + r"attribute '_momentum_of_a_new_release' is state evolstm"):
        capture_searcher(trainer.searcher)
