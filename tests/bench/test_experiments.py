"""The one helper every benchmark builds its experiment with puts each setting where the schema wants it."""

from __future__ import annotations

import pytest
import torch

from evolstm.bench.experiments import bench_experiment, population
from evolstm.config import BACKENDS, ConfigError
from evolstm.environment import policy_spec

TMAZE = {"id": "evolstm/TMaze-v0", "kwargs": {"length": 3}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_settings_land_in_their_sections(backend: str) -> None:
    experiment = bench_experiment(TMAZE, hidden=4, episodes=3, popsize=6, backend=backend, workers=2)
    assert experiment.task.id == TMAZE["id"] and experiment.task.kwargs == {"length": 3}
    assert experiment.policy.hidden == 4 and experiment.trainer.kind == "es"
    assert experiment.trainer.episodes == 3 and experiment.trainer.popsize == 6
    assert experiment.evaluation.backend == backend and experiment.evaluation.workers == 2


def test_workers_default_to_the_config_default() -> None:
    assert bench_experiment(TMAZE, hidden=4, episodes=1).evaluation.workers == "auto"


def test_a_mistyped_task_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="task.id"):
        bench_experiment({"id": "evolstm/Nope-v0"}, hidden=4, episodes=1)


def test_population_is_reproducible() -> None:
    experiment = bench_experiment(TMAZE, hidden=4, episodes=1)
    spec = policy_spec(experiment.task, experiment.policy)
    first = population(spec, 5)
    assert first.shape == (5, spec.num_params) and torch.equal(first, population(spec, 5))
