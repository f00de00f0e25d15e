"""Run checkpoints: everything needed to continue a run exactly (trainer state, random generators, counters),
written atomically with torch serialization and read back with `torch.load(weights_only=True)`, which only
rebuilds tensors and plain containers, never code."""

from __future__ import annotations

import io
import pickle
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from evolstm.atomic import write_bytes
from evolstm.runs import RunDir

if TYPE_CHECKING:
    from evolstm.trainers import Trainer

FORMAT = "evolstm-checkpoint/2"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or not one this version wrote."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Replace the checkpoint at `path` in one step (the previous one stays usable until the rename)."""
    data = io.BytesIO()
    torch.save({"format": FORMAT, **state}, data)
    write_bytes(path, data.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The state saved at `path`, or CheckpointError with one line naming the file and what is wrong."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise CheckpointError(f"{path}: corrupt checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: not an evolstm checkpoint (format {found!r})")
    return state


def rng_state() -> dict[str, Any]:
    """The global random generators evolstm's dependencies may draw from (torch, numpy, Python's random)."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": position,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "python": _python_state(random.getstate()),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of rng_state."""
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state(
        (numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"], numpy["has_gauss"], numpy["gauss"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _python_state(state: tuple) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def run_state(trainer: Trainer, metrics_rows: int, wall_time: float) -> dict[str, Any]:
    """Everything a checkpoint holds: the trainer, the global random generators, and the run's counters."""
    return {"trainer": trainer.state_dict(), "rng": rng_state(), "metrics_rows": metrics_rows, "wall_time": wall_time}


def restore_run(trainer: Trainer, state: dict[str, Any]) -> None:
    """Put a checkpoint's trainer and random-generator state back (the run's counters are the caller's)."""
    trainer.load_state_dict(state["trainer"])
    set_rng_state(state["rng"])


class CheckpointWriter:
    """Writes a run's checkpoint every `every` steps and when asked; counts writes and the time they take."""

    def __init__(self, run: RunDir, every: int, config: dict[str, Any]) -> None:
        self.run, self.every, self.config = run, every, config
        self.writes, self.seconds = 0, 0.0
        self.step: int | None = None  # the training step the last checkpoint holds

    def save(self, trainer: Trainer, metrics_rows: int, wall_time: float) -> None:
        start = time.perf_counter()
        self.run.sync_metrics()  # the rows the checkpoint counts must be on disk before it is
        state = {**run_state(trainer, metrics_rows, wall_time), "config": self.config}
        save_checkpoint(self.run.checkpoint_path, state)
        self.writes += 1
        self.seconds += time.perf_counter() - start
        self.step = trainer.steps

    def save_periodic(self, trainer: Trainer, metrics_rows: int, wall_time: float) -> None:
        """Save if this step ends a checkpoint interval."""
        if self.every and trainer.steps % self.every == 0:
            self.save(trainer, metrics_rows, wall_time)
