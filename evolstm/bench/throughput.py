"""Throughput of population evaluation: env steps/s of the local per-env path, the batched path (cpu, and cuda when
present) and EvoTorch's GymNE / VecGymNE, for several population sizes, plus the bare tensor cost of one batched step.
"""

from __future__ import annotations

from typing import Any

import torch

from evolstm.bench.evotorch_baseline import evotorch_throughput
from evolstm.bench.experiments import PARAM_STDEV, bench_experiment, population
from evolstm.bench.timing import evaluator_row, median_time
from evolstm.config import TaskConfig
from evolstm.environment import make_vector_env, policy_spec
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.policies import PolicySpec, PopulationPolicy


def bare_step_cost(
    task: TaskConfig, spec: PolicySpec, params: torch.Tensor, episodes: int, device: torch.device, steps: int = 200
) -> float:
    """Seconds per lockstep step of just the population LSTM step plus the batched env's step at this batch."""
    count = len(params) * episodes
    env = make_vector_env(task, count, "batched", device)
    env.reset(seed=0)
    policy = PopulationPolicy(spec, params.to(device))
    state = policy.initial_state(episodes)
    obs = torch.zeros(len(params), episodes, spec.obs_dim, device=device)
    actions = torch.zeros(count, dtype=torch.int64, device=device)

    def run() -> None:
        """`steps` steps of the policy and the env, on constant observations and actions."""
        nonlocal state
        for _ in range(steps):
            _, state = policy.step(obs, state)
            env.step(actions)

    with torch.no_grad():
        seconds, _ = median_time(run, 3)
    env.close()
    return seconds / steps


def throughput(
    task: dict[str, Any], hidden: int, popsizes: list[int], episodes: int, repeats: int, with_evotorch: bool
) -> list[dict[str, Any]]:
    """One row per (popsize, path) with env steps/s and the ratio to EvoTorch's faster path."""
    experiment = bench_experiment(task, hidden, episodes)
    spec = policy_spec(experiment.task, experiment.policy)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows: list[dict[str, Any]] = []
    for popsize in popsizes:
        params = population(spec, popsize)
        local = VectorEvaluator(experiment.task, spec, "local")
        group = [evaluator_row("evolstm local", local, params, episodes, repeats)]
        local.close()
        for device in devices:
            batched = VectorEvaluator(experiment.task, spec, "batched", device.type)
            row = evaluator_row(f"evolstm batched {device.type}", batched, params, episodes, repeats)
            batched.close()
            row["bare_step_ms"] = 1000 * bare_step_cost(experiment.task, spec, params, episodes, device)
            row["vs_bare"] = row["step_ms"] / row["bare_step_ms"]
            group.append(row)
        if with_evotorch:
            for vectorized, name in ((False, "evotorch GymNE"), (True, "evotorch VecGymNE")):
                result = evotorch_throughput(
                    experiment.task.id,
                    hidden,
                    popsize,
                    episodes,
                    vectorized,
                    repeats=repeats,
                    env_kwargs=experiment.task.kwargs or None,
                    param_stdev=PARAM_STDEV,
                )
                group.append({"path": name, **result})
            reference = max(r["env_steps_per_s"] for r in group if r["path"].startswith("evotorch"))
            for row in group:
                row["vs_evotorch_best"] = row["env_steps_per_s"] / reference
        for row in group:
            row.update(
                popsize=popsize,
                episodes=episodes,
                hidden=hidden,
                task=experiment.task.id,
                threads=torch.get_num_threads(),
            )
        rows.extend(group)
    return rows
