"""The rollout loop: dropping members whose episodes have all ended (compact) changes no member's results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolstm.environment import make_vector_env, policy_spec
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PopulationPolicy
from evolstm.rollout import Compaction, EpisodeResults, play
from evolstm.seeding import episode_seeds
from tests.conftest import make_experiment

#: a task whose episodes end at very different steps for these members (RepeatPrevious's all last `length` steps;
#: random LSTMs on the T-maze nearly all walk into its step limit: neither would ever compact)
TASK = "evolstm/MaskedCartPole-v0"
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _play(
    observe: list[int] | None, episodes: int, compact: Compaction | None, device: str, **kwargs: object
) -> EpisodeResults:
    """40 members of very different quality (long and short episodes)."""
    experiment = make_experiment(task={"id": TASK, "kwargs": {}, "observe": observe}, policy={"hidden": 6})
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(1)
    center = Policy(spec).flat()
    params = center + torch.linspace(0.0, 2.0, 40).unsqueeze(1) * torch.randn(40, center.numel())
    envs = make_vector_env(experiment.task, 40 * episodes, "batched", torch.device(device))
    seeds = episode_seeds(3, "population", 0, 40, episodes)
    policy = PopulationPolicy(spec, params.to(device))
    return play(envs, policy, seeds, ObsNorm.identity(spec.obs_dim), compact=compact, **kwargs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("episodes", [1, 3])
@pytest.mark.parametrize("observe", [None, [0]])
@pytest.mark.parametrize("compact", ["exact", "buckets"])
def test_compacting_changes_no_result(
    compact: Compaction, observe: list[int] | None, episodes: int, device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Members drop out at several steps; with an observation mask, the wrapper around the batched env is carried
    along. On CUDA this checks that a smaller batch of members rounds each member as the whole batch did. Buckets
    are powers of two that shrink each time."""
    monkeypatch.setattr("evolstm.rollout.SYNC_EVERY", 1)  # a GPU's loop checks (and compacts) every step too
    whole = _play(observe, episodes, None, device)
    selections = []
    select = PopulationPolicy.select
    monkeypatch.setattr(
        PopulationPolicy, "select", lambda self, kept: selections.append(len(kept)) or select(self, kept)
    )
    compacted = _play(observe, episodes, compact, device)
    assert len(selections) >= 2, selections  # the loop did drop members, more than once
    if compact == "buckets":
        assert all(size & (size - 1) == 0 for size in selections), selections
        assert selections == sorted(set(selections), reverse=True), selections
    np.testing.assert_array_equal(compacted.returns, whole.returns)
    np.testing.assert_array_equal(compacted.lengths, whole.lengths)
    np.testing.assert_array_equal(compacted.obs_stats.total, whole.obs_stats.total)
    np.testing.assert_array_equal(compacted.obs_stats.total_sq, whole.obs_stats.total_sq)


def test_compacting_refuses_recorded_or_sampled_episodes() -> None:
    with pytest.raises(ValueError, match="compact"):
        _play(None, 1, "exact", "cpu", record=True)
