"""Observation normalization: a normalizer clips what it standardizes; the identity (obs_norm: false) passes
observations through as they are."""

from __future__ import annotations

import numpy as np
import torch

from evolstm.normalization import CLIP, ObsNorm, ObsStats


def test_the_identity_passes_observations_unclipped() -> None:
    obs = torch.tensor([[100.0, -7.5, 0.25]])
    assert ObsNorm.identity(3).is_identity
    assert torch.equal(ObsNorm.identity(3).on("cpu")(obs), obs)


def test_a_fitted_normalizer_standardizes_and_clips() -> None:
    stats = ObsStats(np.array([0.0, 4.0]), np.array([8.0, 16.0]), 2)  # means 0 and 2, stds 2 and 2
    norm = ObsNorm.from_stats(stats)
    assert not norm.is_identity
    out = norm.on("cpu")(torch.tensor([[4.0, 100.0]]))
    assert out.tolist() == [[2.0, CLIP]]
