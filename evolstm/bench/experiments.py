"""What every benchmark times: its experiment, built in one place, and a reproducible population of policies."""

from __future__ import annotations

from typing import Any

import torch

from evolstm import config
from evolstm.config import Experiment
from evolstm.config.schema import Backend
from evolstm.policies import Policy, PolicySpec

#: spread of the benchmark populations (evolstm: around the default init; EvoTorch: around zero), so that episode
#: lengths resemble a population in mid-search rather than the constant policies of a zero-width start
PARAM_STDEV = 0.1


def bench_experiment(
    task: dict[str, Any],
    hidden: int,
    episodes: int,
    popsize: int = 64,
    backend: Backend = "local",
    workers: int | None = None,
) -> Experiment:
    """An ES experiment on `task` (a mapping with id and kwargs) with an LSTM of `hidden` units, `episodes` episodes
    per member, evaluated on `backend` (with `workers` Ray actors; None: the config's default). Raises ConfigError
    for values a user mistyped (an unknown task id, kwargs, a non-positive size)."""
    evaluation: dict[str, Any] = {"backend": backend}
    if workers is not None:
        evaluation["workers"] = workers
    return config.from_dict(
        {
            "name": "bench",
            "task": dict(task),
            "policy": {"kind": "lstm", "hidden": hidden},
            "trainer": {"kind": "es", "popsize": popsize, "episodes": episodes},
            "evaluation": evaluation,
        }
    )


def population(spec: PolicySpec, popsize: int, seed: int = 0, device: torch.device | None = None) -> torch.Tensor:
    """A reproducible population [popsize, D]: a default-initialised network perturbed by N(0, PARAM_STDEV^2), its
    init and the perturbations both drawn from `seed` (torch's global generator is left as it was); drawn on `device`
    (another device draws other perturbations; the default, the CPU, gives the same ones everywhere)."""
    device = device or torch.device("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        center = Policy(spec).flat().to(device)
    generator = torch.Generator(device).manual_seed(seed)
    return center + PARAM_STDEV * torch.randn(popsize, center.numel(), generator=generator, device=device)
