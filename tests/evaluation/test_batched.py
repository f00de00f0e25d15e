"""The batched evaluator: same returns, lengths and observation statistics as the local per-env path, for every
evolstm task; sampled trajectories recorded on the device; clear errors where it cannot run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolstm.config import ConfigError
from evolstm.evaluation.batched import BatchedEvaluator
from evolstm.evaluation.local import LocalEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy
from evolstm.run import policy_spec
from evolstm.sampling import Sampling
from evolstm.seeding import episode_seeds
from evolstm.tasks import TASK_IDS
from tests.conftest import make_experiment

KWARGS = {"evolstm/TMaze-v0": {"length": 3}}


def _setup(task_id: str, **task):
    experiment = make_experiment(task={"id": task_id, "kwargs": KWARGS.get(task_id, {}), **task})
    spec = policy_spec(experiment)
    torch.manual_seed(0)
    center = Policy(spec).flat()
    params = center + 0.5 * torch.randn(5, center.numel())
    return experiment, spec, params


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_batched_equals_local(task_id: str) -> None:
    experiment, spec, params = _setup(task_id)
    seeds = episode_seeds(1, "population", 2, 5, 3)
    norm = ObsNorm(np.full(spec.obs_dim, 0.1, np.float32), np.full(spec.obs_dim, 0.7, np.float32))
    local = LocalEvaluator(experiment.task, spec).evaluate(params, seeds, norm)
    batched = BatchedEvaluator(experiment.task, spec, "cpu").evaluate(params, seeds, norm)
    np.testing.assert_array_equal(batched.lengths, local.lengths)
    np.testing.assert_allclose(batched.returns, local.returns, rtol=0, atol=1e-9)
    assert batched.obs_stats.count == local.obs_stats.count
    np.testing.assert_allclose(batched.obs_stats.total, local.obs_stats.total, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(batched.obs_stats.total_sq, local.obs_stats.total_sq, rtol=1e-9, atol=1e-9)


def test_observation_mask_applies_to_the_batched_form() -> None:
    experiment, spec, params = _setup("evolstm/RepeatPrevious-v0", observe=[0, 1, 2])
    seeds = episode_seeds(0, "population", 0, 5, 2)
    norm = ObsNorm.identity(3)
    local = LocalEvaluator(experiment.task, spec).evaluate(params, seeds, norm)
    batched = BatchedEvaluator(experiment.task, spec, "cpu").evaluate(params, seeds, norm)
    np.testing.assert_array_equal(batched.returns, local.returns)


def test_sampled_trajectories_are_recorded_and_masked() -> None:
    experiment, spec, params = _setup("evolstm/MaskedCartPole-v0")
    seeds = episode_seeds(0, "population", 0, 1, 6)
    results = BatchedEvaluator(experiment.task, spec, "cpu").evaluate(
        params[:1], seeds, ObsNorm.identity(spec.obs_dim), Sampling(seed=3)
    )
    batch = results.trajectories
    assert batch is not None and batch.inputs.shape[:2] == batch.valid.shape
    np.testing.assert_array_equal(batch.valid.sum(0).numpy(), results.lengths[0])
    assert batch.valid[-1].any()  # trailing all-finished steps are dropped
    np.testing.assert_allclose((batch.rewards * batch.valid).sum(0).numpy(), results.returns[0])


def test_clear_errors() -> None:
    experiment, spec, _ = _setup("evolstm/TMaze-v0")
    plain = make_experiment(task={"id": "CartPole-v1", "kwargs": {}})
    with pytest.raises(ConfigError, match="batched needs a task with a torch-batched form"):
        BatchedEvaluator(plain.task, policy_spec(plain), "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="evaluation.device: cuda was asked for"):
            BatchedEvaluator(experiment.task, spec, "cuda")
