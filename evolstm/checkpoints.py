"""Run checkpoints: everything needed to continue a run exactly (trainer state, random generators, counters),
written atomically with torch serialization and read back with `torch.load(weights_only=True)`, which only
rebuilds tensors and plain containers, never code."""

from __future__ import annotations

import io
import pickle
import random
import time
from collections.abc import Callable
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


def check_run_state(path: Path, state: dict[str, Any]) -> None:
    """CheckpointError unless the run's own entries of a loaded checkpoint have the types, ranges and agreement
    this version writes (so that nothing after this point trusts a hand-edited or damaged file)."""
    problem = _first_problem(state)
    if problem:
        raise CheckpointError(f"{path}: corrupt checkpoint ({problem})")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shown(value: Any) -> str:
    """A value as a short single line (a tensor by its dtype and shape)."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return " ".join(repr(value).split())[:60]


def _first_problem(state: dict[str, Any]) -> str | None:
    """What is wrong with the run's own entries of a checkpoint (types, ranges, agreement), or None."""
    trainer, rng = state.get("trainer"), state.get("rng")
    if not isinstance(trainer, dict) or not isinstance(rng, dict) or not isinstance(state.get("config"), dict):
        return "trainer, rng or config section missing"
    for key in ("steps", "env_steps"):
        if not _count(trainer.get(key)):
            return f"trainer.{key} is {_shown(trainer.get(key))}, not a count"
    if not _count(state.get("metrics_rows")) or state["metrics_rows"] != trainer["steps"]:
        return f"metrics_rows is {_shown(state.get('metrics_rows'))}; the trainer completed {trainer['steps']} steps"
    wall = state.get("wall_time")
    if isinstance(wall, bool) or not isinstance(wall, (int, float)) or not 0 <= wall < float("inf"):
        return f"wall_time is {_shown(wall)}, not a finite number of seconds"
    if not isinstance(rng.get("torch"), torch.Tensor) or rng["torch"].dtype != torch.uint8:
        return "rng.torch is not a generator state"
    return None


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
    """Put a checkpoint's trainer and random-generator state back (the run's counters are the caller's); ValueError
    or KeyError for entries that are not what this version writes."""
    trainer.load_state_dict(state["trainer"])
    try:
        set_rng_state(state["rng"])
    except (TypeError, ValueError, KeyError, IndexError, RuntimeError) as err:  # parsing the file's generator states
        raise ValueError(f"rng: not the generator states this version writes ({err})") from None


class CheckpointWriter:
    """Writes a run's checkpoint once `every` steps or `seconds` seconds have passed since the last one (and when
    asked), but never sooner than COST_RATIO times the last write's duration after it: then writing costs at most
    1 / (1 + COST_RATIO) of the run's time however short its steps are. Counts the writes and their seconds."""

    COST_RATIO = 20  # at most ~5% of the wall time

    def __init__(
        self,
        run: RunDir,
        every: int,
        seconds: float,
        config: dict[str, Any],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.run, self.every, self.every_seconds, self.config, self.clock = run, every, seconds, config, clock
        self.writes, self.seconds = 0, 0.0
        self.step: int | None = None  # the training step the last checkpoint holds
        self._last_end, self._last_cost = clock(), 0.0

    def save(self, trainer: Trainer, metrics_rows: int, wall_time: float) -> None:
        start = self.clock()
        self.run.sync_metrics()  # the rows the checkpoint counts must be on disk before it is
        state = {**run_state(trainer, metrics_rows, wall_time), "config": self.config}
        save_checkpoint(self.run.checkpoint_path, state)
        self._last_end = self.clock()
        self._last_cost = self._last_end - start
        self.writes += 1
        self.seconds += self._last_cost
        self.step = trainer.steps

    def save_periodic(self, trainer: Trainer, metrics_rows: int, wall_time: float) -> None:
        """Save if a step or time interval has passed since the last checkpoint and the write is cheap enough."""
        since = self.clock() - self._last_end
        steps = trainer.steps - (self.step or 0)
        due = (self.every and steps >= self.every) or (self.every_seconds and since >= self.every_seconds)
        if due and since >= self.COST_RATIO * self._last_cost:
            self.save(trainer, metrics_rows, wall_time)
