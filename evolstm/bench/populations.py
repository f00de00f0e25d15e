"""Large populations on one device: the batched path's env steps/s as the population grows (the GPU table), and the
agreement check that the device scores a population exactly as the local per-env path does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from evolstm.bench.experiments import bench_experiment, population
from evolstm.bench.timing import evaluator_row
from evolstm.environment import policy_spec
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.seeding import episode_seeds


def agreement(task: dict[str, Any], hidden: int, popsize: int, episodes: int, device: str = "cpu") -> float:
    """Largest |return(local) - return(batched on `device`)| over `popsize` members x `episodes` episodes played
    with the same parameters and seeds (0.0 when the two paths agree bit for bit; nan if either return is nan)."""
    experiment = bench_experiment(task, hidden, episodes)
    spec = policy_spec(experiment.task, experiment.policy)
    params = population(spec, popsize)
    seeds = episode_seeds(0, "population", 0, popsize, episodes)
    norm = ObsNorm.identity(spec.obs_dim)
    returns = []
    for evaluator in (
        VectorEvaluator(experiment.task, spec, "local"),
        VectorEvaluator(experiment.task, spec, "batched", device),
    ):
        returns.append(evaluator.score(params, seeds, norm).returns)
        evaluator.close()
    local, batched = returns
    return float(np.abs(local - batched).max())


def populations(
    task: dict[str, Any], hidden: int, popsizes: list[int], episodes: int, device: str, repeats: int
) -> list[dict[str, Any]]:
    """Batched-path throughput on `device`, one row per population size."""
    experiment = bench_experiment(task, hidden, episodes)
    spec = policy_spec(experiment.task, experiment.policy)
    rows = []
    for popsize in popsizes:
        evaluator = VectorEvaluator(experiment.task, spec, "batched", device)
        row = evaluator_row(f"evolstm batched {device}", evaluator, population(spec, popsize), episodes, repeats)
        evaluator.close()
        row.update(
            popsize=popsize, episodes=episodes, hidden=hidden, task=experiment.task.id, threads=torch.get_num_threads()
        )
        rows.append(row)
    return rows
