"""Observation normalization: running mean/std over all observations seen in training, frozen within a generation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

CLIP = 5.0


@dataclass(frozen=True)
class ObsStats:
    """Sum, sum of squares and count of a batch of observations (float64), mergeable across workers."""

    total: np.ndarray
    total_sq: np.ndarray
    count: int

    @classmethod
    def empty(cls, dim: int) -> ObsStats:
        return cls(np.zeros(dim), np.zeros(dim), 0)

    def __add__(self, other: ObsStats) -> ObsStats:
        return ObsStats(self.total + other.total, self.total_sq + other.total_sq, self.count + other.count)


@dataclass(frozen=True)
class ObsNorm:
    """A fixed normalizer (mean, std) applied as clip((obs - mean) / std, -5, 5); identity when disabled."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def identity(cls, dim: int) -> ObsNorm:
        return cls(np.zeros(dim, dtype=np.float32), np.ones(dim, dtype=np.float32))

    @classmethod
    def from_stats(cls, stats: ObsStats, eps: float = 1e-2) -> ObsNorm:
        """Normalizer for the observations summarised by `stats` (std floored at eps for constant entries)."""
        if stats.count == 0:
            return cls.identity(len(stats.total))
        mean = stats.total / stats.count
        var = np.maximum(stats.total_sq / stats.count - mean**2, 0.0)
        return cls(mean.astype(np.float32), np.maximum(np.sqrt(var), eps).astype(np.float32))

    @property
    def is_identity(self) -> bool:
        """Mean 0 and std 1: what `obs_norm: false` (and a run before its first statistics) uses."""
        return not self.mean.any() and bool((self.std == 1).all())

    def on(self, device: torch.device | str) -> Callable[[Tensor], Tensor]:
        """The normalizer as a function of observation tensors [..., obs_dim] on `device` (copied there once); the
        identity passes observations through as they are (unclipped, and without spending a kernel on them)."""
        if self.is_identity:
            return _unchanged
        mean = torch.as_tensor(self.mean, device=device)
        std = torch.as_tensor(self.std, device=device)

        def normalize(obs: Tensor) -> Tensor:
            return ((obs - mean) / std).clamp_(-CLIP, CLIP)

        return normalize


def _unchanged(obs: Tensor) -> Tensor:
    """The identity normalizer."""
    return obs
