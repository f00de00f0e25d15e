"""Run checkpoints: everything needed to continue a run exactly (trainer state, random generators, counters),
written atomically with torch serialization and read back with `torch.load(weights_only=True)`, which only
rebuilds tensors and plain containers, never code."""

from __future__ import annotations

import io
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evolstm.atomic import write_bytes

FORMAT = "evolstm-checkpoint/1"


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
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": position,
                  "has_gauss": has_gauss, "gauss": gauss},
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
