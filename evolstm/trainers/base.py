"""What every trainer hands back to the run: policies to export, each a flat vector and its observation normalizer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from evolstm.normalization import ObsNorm


@dataclass(frozen=True)
class Exported:
    """A policy ready to export: flat parameters and the normalizer it acts under."""

    params: torch.Tensor
    norm: ObsNorm


class Trainer(Protocol):
    """A training loop cut into steps (generations or iterations), each returning a metrics dict."""

    generation: int
    env_steps: int

    def step(self) -> dict[str, Any]: ...

    def finished(self) -> bool: ...

    def exports(self) -> dict[str, Exported]: ...
