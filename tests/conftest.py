"""Shared helpers: small experiments built from plain dicts."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from evolstm import config
from evolstm.config import Experiment


#: Property tests (marked `properties`) run a quick profile in the default suite (the same examples every time, so
#: CI does not depend on luck) and 1,000 fresh examples each in the slow job:
#: python -m pytest -m properties --hypothesis-profile=thorough
for _name, _examples in (("quick", 40), ("thorough", 1000)):
    settings.register_profile(
        _name,
        max_examples=_examples,
        deadline=None,
        derandomize=_name == "quick",
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
settings.load_profile("quick")


def make_experiment(**sections: Any) -> Experiment:
    """A tiny valid experiment (T-maze length 3, LSTM 4, 2 generations) with sections overridden."""
    data: dict[str, Any] = {
        "name": "test",
        "seed": 0,
        "task": {"id": "evolstm/TMaze-v0", "kwargs": {"length": 3}},
        "policy": {"kind": "lstm", "hidden": 4},
        "trainer": {
            "kind": "es",
            "algorithm": "snes",
            "popsize": 8,
            "episodes": 2,
            "generations": 2,
            "stdev_init": 0.5,
        },
        "evaluation": {"backend": "local", "greedy_episodes": 2, "final_episodes": 4},
    }
    if sections.get("trainer", {}).get("kind", "es") != "es":
        data["trainer"] = {}  # another trainer kind shares none of the ES defaults
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    return config.from_dict(data)


@pytest.fixture
def tiny() -> Experiment:
    return make_experiment()


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One private local Ray cluster for the whole test run (3 logical CPUs, so three one-CPU workers fit).

    Yields a folder on the workers' import path, for env modules that tests write.
    """
    import ray

    from evolstm.config import RayConfig
    from evolstm.evaluation.cluster import connect

    folder = tmp_path_factory.mktemp("ray_modules")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, str(folder))
    connect(RayConfig(num_cpus=3))
    yield folder
    ray.shutdown()
