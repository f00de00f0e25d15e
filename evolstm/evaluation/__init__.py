"""Evaluators play episodes for the trainers, with two verbs: `score` a population (ES fitness, greedy evaluations)
and `collect` sampled episodes of one policy (REINFORCE). Picked by the experiment's `evaluation.backend`."""

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


class ClusterError(RuntimeError):
    """The Ray cluster cannot be reached or cannot host the workers asked for: one line, exit code 1."""


class WorkerLostError(RuntimeError):
    """A Ray worker kept dying while playing its share (past its restarts): the run stops, keeping its results."""


class Evaluator(Protocol):
    """Deterministic given its inputs: member p's episode e is reset with seeds[p, e] and played under `norm`."""

    device: torch.device

    def score(self, params: Tensor, seeds: np.ndarray, norm: ObsNorm) -> EpisodeResults:
        """Greedy episodes of P parameter sets: params [P, D], seeds [P, E] -> returns, lengths [P, E], obs stats."""
        ...

    def collect(self, params: Tensor, seeds: np.ndarray, norm: ObsNorm, sampling: Sampling) -> EpisodeResults:
        """Sampled episodes of one policy for learning: params [D], seeds [E] -> results [1, E] with trajectories;
        episode e's actions are drawn from its own seed, so results do not depend on how episodes are split."""
        ...

    def close(self) -> None: ...


def make_evaluator(experiment: Experiment, spec: PolicySpec) -> Evaluator:
    """The evaluator the experiment's `evaluation.backend` names."""
    evaluation = experiment.evaluation
    if evaluation.backend == "ray":
        from evolstm.evaluation.ray import RayEvaluator

        return RayEvaluator(experiment, spec)
    from evolstm.evaluation.vector import VectorEvaluator

    return VectorEvaluator(experiment.task, spec, evaluation.backend, evaluation.device, evaluation.compile)
