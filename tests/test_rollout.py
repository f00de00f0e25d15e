"""The rollout loop: dropping members whose episodes have all ended (compact) changes no member's results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolstm.environment import make_vector_env, policy_spec
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PopulationPolicy
from evolstm.rollout import play
from evolstm.seeding import episode_seeds
from evolstm.tasks import TASK_IDS
from tests.conftest import make_experiment

KWARGS = {"evolstm/TMaze-v0": {"length": 5}, "evolstm/RepeatPrevious-v0": {"length": 9}}


@pytest.mark.parametrize("task_id", TASK_IDS)
@pytest.mark.parametrize("observe", [None, [0]])
def test_compacting_changes_no_result(task_id: str, observe: list[int] | None) -> None:
    """Members of very different quality (long and short episodes), three episodes each, so that members drop out at
    several steps; with an observation mask, the wrapper around the batched env is carried along."""
    experiment = make_experiment(
        task={"id": task_id, "kwargs": KWARGS.get(task_id, {}), "observe": observe}, policy={"hidden": 6}
    )
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(1)
    center = Policy(spec).flat()
    spread = torch.linspace(0.0, 2.0, 40).unsqueeze(1)
    params = center + spread * torch.randn(40, center.numel())
    seeds = episode_seeds(3, "population", 0, 40, 3)
    norm = ObsNorm.identity(spec.obs_dim)
    results = [
        play(
            make_vector_env(experiment.task, 120, "batched", torch.device("cpu")),
            PopulationPolicy(spec, params),
            seeds,
            norm,
            compact=compact,
        )
        for compact in (False, True)
    ]
    whole, compacted = results
    assert len(np.unique(whole.lengths)) > 1 or task_id == "evolstm/RepeatPrevious-v0"
    np.testing.assert_array_equal(compacted.returns, whole.returns)
    np.testing.assert_array_equal(compacted.lengths, whole.lengths)
    np.testing.assert_array_equal(compacted.obs_stats.total, whole.obs_stats.total)
    np.testing.assert_array_equal(compacted.obs_stats.total_sq, whole.obs_stats.total_sq)
