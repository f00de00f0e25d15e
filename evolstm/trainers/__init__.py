"""Trainers by name (the experiment's `trainer.kind`), all built as `Trainer(experiment, evaluator, spec, init)`."""

from __future__ import annotations

import torch

from evolstm.config import Experiment
from evolstm.evaluation import Evaluator
from evolstm.policies import PolicySpec
from evolstm.trainers.base import DivergedError, Exported, Trainer
from evolstm.trainers.es import ESTrainer
from evolstm.trainers.reinforce import ReinforceTrainer

__all__ = ["TRAINERS", "DivergedError", "Exported", "Trainer", "make_trainer"]

TRAINERS: dict[str, type[Trainer]] = {"es": ESTrainer, "reinforce": ReinforceTrainer}


def make_trainer(experiment: Experiment, evaluator: Evaluator, spec: PolicySpec, init: torch.Tensor) -> Trainer:
    """The trainer the experiment names, starting from the flat parameter vector `init`."""
    return TRAINERS[experiment.trainer.kind](experiment, evaluator, spec, init)
