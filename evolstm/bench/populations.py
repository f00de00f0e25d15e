"""Large populations on one device (the GPU script): the batched path's env steps/s and peak memory as the number of
envs grows, and the agreement check that the device scores a population as the local per-env path does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from evolstm.bench.experiments import bench_experiment, population
from evolstm.bench.memory import PeakMemory
from evolstm.bench.timing import evaluator_row
from evolstm.environment import policy_spec
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.seeding import episode_seeds


def agreement(
    task: dict[str, Any], hidden: int, popsize: int, episodes: int, device: str = "cpu", compile: bool = False
) -> tuple[float, float]:
    """Largest |return(local) - return(batched on `device`)| over `popsize` members x `episodes` episodes played
    with the same parameters and seeds (0.0 when the two paths agree bit for bit; nan if either return is nan), and
    the share of episodes whose returns are identical."""
    experiment = bench_experiment(task, hidden, episodes)
    spec = policy_spec(experiment.task, experiment.policy)
    params = population(spec, popsize)
    seeds = episode_seeds(0, "population", 0, popsize, episodes)
    norm = ObsNorm.identity(spec.obs_dim)
    returns = []
    for evaluator in (
        VectorEvaluator(experiment.task, spec, "local"),
        VectorEvaluator(experiment.task, spec, "batched", device, compile),
    ):
        returns.append(evaluator.score(params, seeds, norm).returns)
        evaluator.close()
    local, batched = returns
    return float(np.abs(local - batched).max()), float((local == batched).mean())


def populations(
    task: dict[str, Any], hidden: int, popsizes: list[int], episodes: int, device: str, repeats: int, compile: bool
) -> list[dict[str, Any]]:
    """Batched-path throughput on `device`, one row per population size, with the peak memory growth of the row
    (CUDA: torch's allocations; CPU: the resident set) per member; the population is drawn on the device."""
    experiment = bench_experiment(task, hidden, episodes)
    spec = policy_spec(experiment.task, experiment.policy)
    name = f"evolstm {'compiled' if compile else 'batched'} {device}"
    rows = []
    for popsize in popsizes:
        with PeakMemory(torch.device(device)) as peak:
            evaluator = VectorEvaluator(experiment.task, spec, "batched", device, compile)
            params = population(spec, popsize, device=torch.device(device))
            row = evaluator_row(name, evaluator, params, episodes, repeats)
            evaluator.close()
            del params
        row.update(
            popsize=popsize,
            envs=popsize * episodes,
            episodes=episodes,
            hidden=hidden,
            task=experiment.task.id,
            threads=torch.get_num_threads(),
            peak_mb=peak.bytes / 2**20,
            kb_per_member=peak.bytes / 1024 / popsize,
        )
        print(
            f"{experiment.task.id} {name}: {popsize * episodes:,} envs, {row['env_steps_per_s']:,.0f} env steps/s",
            flush=True,
        )
        rows.append(row)
    return rows
