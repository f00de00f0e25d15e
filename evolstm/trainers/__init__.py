"""Trainers by name (the experiment's `trainer.kind`)."""

from __future__ import annotations

import torch

from evolstm.config import Experiment
from evolstm.evaluation import Evaluator
from evolstm.policies import PolicySpec
from evolstm.trainers.base import Exported, Trainer

__all__ = ["Exported", "Trainer", "make_trainer"]


def make_trainer(experiment: Experiment, evaluator: Evaluator, spec: PolicySpec, init: torch.Tensor) -> Trainer:
    """The trainer the experiment names, starting from the flat parameter vector `init`."""
    if experiment.trainer.kind == "reinforce":
        from evolstm.trainers.reinforce import ReinforceTrainer

        return ReinforceTrainer(experiment, evaluator, spec, init)
    from evolstm.trainers.es import ESTrainer

    return ESTrainer(experiment, evaluator, init, spec.obs_dim)
