"""Checkpoint files: round trip of plain state and random generators, one-line errors for missing, corrupt and
foreign files, weights-only loading (a pickled object cannot run code), and the previous file kept on a failed write."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from evolstm.checkpoints import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state

MARKER = "evolstm-test-code-ran"


class Payload:
    """Pickles into a call of os.system: what an unsafe loader would run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.folder / MARKER}",))


def test_round_trip_and_random_generators(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"x": torch.arange(3), "rng": rng_state(), "nested": {"a": [1, 2.5, None, "s"]}})
    expected = (torch.rand(3), np.random.rand(), random.random())
    state = load_checkpoint(path)
    set_rng_state(state["rng"])
    assert torch.equal(torch.rand(3), expected[0]) and np.random.rand() == expected[1]
    assert random.random() == expected[2]
    assert torch.equal(state["x"], torch.arange(3)) and state["nested"] == {"a": [1, 2.5, None, "s"]}


def test_missing_corrupt_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        load_checkpoint(path)
    save_checkpoint(path, {"x": torch.zeros(1000)})
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="corrupt checkpoint") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not an evolstm checkpoint"):
        load_checkpoint(path)


def test_loading_never_runs_code_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": "evolstm-checkpoint/1", "trainer": Payload(tmp_path)}, path, pickle_protocol=2)
    with pytest.raises(CheckpointError, match="corrupt checkpoint"):
        load_checkpoint(path)
    assert not (tmp_path / MARKER).exists()
    with open(path, "wb") as handle:  # a plain pickle rather than torch's zip format
        pickle.dump({"format": "evolstm-checkpoint/1", "x": Payload(tmp_path)}, handle, protocol=2)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not (tmp_path / MARKER).exists()


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"generation": 1})

    def crash(*args: object) -> None:
        raise OSError("killed during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, {"generation": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["generation"] == 1 and [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


class _Clock:
    """A fake clock that the test moves forward."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("step", "write", "every", "seconds", "writes"),
    [
        (0.001, 0.05, 10, 0.0, (4, 6)),  # steps far shorter than a write: about one write per 21 write-times
        (2.0, 0.01, 10, 0.0, (501, 501)),  # long steps: exactly every 10 steps (and the first write)
        (0.01, 0.001, 0, 1.0, (45, 51)),  # by time alone: about once a second
    ],
)
def test_periodic_checkpoints_cost_at_most_five_percent(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: float,
    write: float,
    every: int,
    seconds: float,
    writes: tuple[int, int],
) -> None:
    """Steps far shorter than a write (a 51,000-generation run spent 9.5% writing at every=10) are checkpointed less
    often; long steps keep the step interval; a time interval alone also works."""
    from types import SimpleNamespace

    from evolstm import checkpoints
    from evolstm.runs import RunDir

    clock = _Clock()

    def fake_save(path: Path, state: dict) -> None:
        clock.now += write

    monkeypatch.setattr(checkpoints, "save_checkpoint", fake_save)
    monkeypatch.setattr(checkpoints, "run_state", lambda trainer, rows, wall: {})
    writer = checkpoints.CheckpointWriter(RunDir(tmp_path), every, seconds, {}, clock=clock)
    trainer = SimpleNamespace(steps=0)
    writer.save(trainer, 0, 0.0)
    for _ in range(5000):
        clock.now += step
        trainer.steps += 1
        writer.save_periodic(trainer, trainer.steps, clock.now)
    assert writer.seconds / clock.now <= 0.05 + 1e-9
    assert writes[0] <= writer.writes <= writes[1], writer.writes
