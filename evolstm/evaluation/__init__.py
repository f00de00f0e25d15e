"""Evaluators turn parameter sets [P, D] and episode seeds [P, E] into episode results; picked by backend name."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from evolstm.config import Experiment
from evolstm.normalization import ObsNorm
from evolstm.policies import PolicySpec
from evolstm.rollout import EpisodeResults
from evolstm.sampling import Sampling


class Evaluator(Protocol):
    """Plays member p's episodes with seeds[p] under the frozen normalizer `norm`; deterministic given its inputs.

    Actions are greedy, or drawn as `sampling` says, in which case the trajectories are recorded (for REINFORCE).
    """

    device: torch.device

    def evaluate(
        self, params: Tensor, seeds: np.ndarray, norm: ObsNorm, sampling: Sampling | None = None
    ) -> EpisodeResults: ...

    def close(self) -> None: ...


def make_evaluator(experiment: Experiment, spec: PolicySpec) -> Evaluator:
    """The evaluator the experiment's `evaluation.backend` names."""
    backend = experiment.evaluation.backend
    if backend == "ray":
        from evolstm.evaluation.ray import RayEvaluator

        return RayEvaluator(experiment, spec)
    if backend == "batched":
        from evolstm.evaluation.batched import BatchedEvaluator

        return BatchedEvaluator(experiment.task, spec, experiment.evaluation.device)
    from evolstm.evaluation.local import LocalEvaluator

    return LocalEvaluator(experiment.task, spec)
