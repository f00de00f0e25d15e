"""The in-process evaluator on both vector envs (per-env Gymnasium envs in lockstep, the torch-batched form): seeded,
deterministic, every episode played to its own end; both forms agree bit for bit; collections split into parts play
each episode exactly as in the whole batch."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch

from evolstm.config import ConfigError
from evolstm.environment import policy_spec
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy
from evolstm.sampling import Sampling
from evolstm.seeding import episode_seeds
from evolstm.tasks import TASK_IDS
from tests.conftest import make_experiment

KWARGS = {"evolstm/TMaze-v0": {"length": 3}, "evolstm/PassiveTMaze-v0": {"length": 3}}
VECTORIZATIONS = ("local", "batched")


def _setup(task_id: str = "evolstm/TMaze-v0", members: int = 5, hidden: int = 4, **task):
    experiment = make_experiment(
        task={"id": task_id, "kwargs": KWARGS.get(task_id, {}), **task}, policy={"kind": "lstm", "hidden": hidden}
    )
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(0)
    center = Policy(spec).flat()
    params = center + 0.5 * torch.randn(members, center.numel())
    return experiment, spec, params


@pytest.mark.parametrize("vectorization", VECTORIZATIONS)
def test_same_seeds_give_the_same_results(vectorization: str) -> None:
    experiment, spec, params = _setup(members=3)
    evaluator = VectorEvaluator(experiment.task, spec, vectorization, "cpu")
    seeds = episode_seeds(0, "population", 0, 3, 4)
    first = evaluator.score(params, seeds, ObsNorm.identity(spec.obs_dim))
    again = evaluator.score(params, seeds, ObsNorm.identity(spec.obs_dim))
    np.testing.assert_array_equal(first.returns, again.returns)
    np.testing.assert_array_equal(first.lengths, again.lengths)
    assert first.returns.shape == (3, 4)
    assert first.env_steps == first.lengths.sum() == first.obs_stats.count


@pytest.mark.parametrize("vectorization", VECTORIZATIONS)
def test_results_match_a_plain_gymnasium_loop(vectorization: str) -> None:
    experiment, spec, params = _setup("evolstm/MaskedCartPole-v0", members=3)
    seeds = episode_seeds(3, "population", 1, 3, 2)
    results = VectorEvaluator(experiment.task, spec, vectorization, "cpu").score(
        params, seeds, ObsNorm.identity(spec.obs_dim)
    )
    for p in range(3):
        policy = Policy(spec)
        policy.load_flat(params[p])
        for e in range(2):
            env = gymnasium.make("evolstm/MaskedCartPole-v0")
            obs, _ = env.reset(seed=int(seeds[p, e]))
            state, total, done = policy.initial_state(1), 0.0, False
            while not done:
                out, state = policy(torch.as_tensor(obs).view(1, 1, -1), state)
                obs, reward, terminated, truncated, _ = env.step(int(out.argmax()))
                total, done = total + reward, terminated or truncated
            assert results.returns[p, e] == total


def test_seeds_are_derived_not_positional() -> None:
    seeds = episode_seeds(7, "population", 3, 5, 2)
    assert len(np.unique(seeds)) == 10
    np.testing.assert_array_equal(episode_seeds(7, "population", 3, 8, 2)[:5], seeds)
    common = episode_seeds(7, "population", 3, 5, 2, common=True)
    assert (common == common[0]).all()
    assert not np.array_equal(episode_seeds(7, "greedy", 3, 1, 2), seeds[:1])


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_batched_equals_local(task_id: str) -> None:
    experiment, spec, params = _setup(task_id)
    seeds = episode_seeds(1, "population", 2, 5, 3)
    norm = ObsNorm(np.full(spec.obs_dim, 0.1, np.float32), np.full(spec.obs_dim, 0.7, np.float32))
    local = VectorEvaluator(experiment.task, spec, "local").score(params, seeds, norm)
    batched = VectorEvaluator(experiment.task, spec, "batched", "cpu").score(params, seeds, norm)
    np.testing.assert_array_equal(batched.lengths, local.lengths)
    np.testing.assert_array_equal(batched.returns, local.returns)
    assert batched.obs_stats.count == local.obs_stats.count
    np.testing.assert_array_equal(batched.obs_stats.total, local.obs_stats.total)
    np.testing.assert_array_equal(batched.obs_stats.total_sq, local.obs_stats.total_sq)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_collections_are_equal_on_both_vector_envs(task_id: str) -> None:
    experiment, spec, params = _setup(task_id)
    seeds = episode_seeds(0, "training", 0, 1, 6)[0]
    norm = ObsNorm.identity(spec.obs_dim)
    sampling = Sampling() if spec.discrete else Sampling(std=(0.5,) * spec.action_dim)  # Box: a Gaussian policy
    local = VectorEvaluator(experiment.task, spec, "local").collect(params[0], seeds, norm, sampling)
    batched = VectorEvaluator(experiment.task, spec, "batched", "cpu").collect(params[0], seeds, norm, sampling)
    np.testing.assert_array_equal(batched.returns, local.returns)
    valid = local.trajectories.valid
    assert torch.equal(batched.trajectories.valid, valid)
    for name in ("inputs", "actions", "rewards"):  # finished episodes are stepped on (batched) or frozen (local)
        assert torch.equal(getattr(batched.trajectories, name)[valid], getattr(local.trajectories, name)[valid]), name


def test_observation_mask_applies_to_the_batched_form() -> None:
    experiment, spec, params = _setup("evolstm/RepeatPrevious-v0", observe=[0, 1, 2])
    seeds = episode_seeds(0, "population", 0, 5, 2)
    norm = ObsNorm.identity(3)
    local = VectorEvaluator(experiment.task, spec, "local").score(params, seeds, norm)
    batched = VectorEvaluator(experiment.task, spec, "batched", "cpu").score(params, seeds, norm)
    np.testing.assert_array_equal(batched.returns, local.returns)


@pytest.mark.parametrize("vectorization", VECTORIZATIONS)
def test_sampled_trajectories_are_recorded_and_masked(vectorization: str) -> None:
    experiment, spec, params = _setup("evolstm/MaskedCartPole-v0")
    seeds = episode_seeds(0, "training", 0, 1, 6)[0]
    evaluator = VectorEvaluator(experiment.task, spec, vectorization, "cpu")
    results = evaluator.collect(params[0], seeds, ObsNorm.identity(spec.obs_dim), Sampling())
    batch = results.trajectories
    assert batch is not None and batch.inputs.shape[:2] == batch.valid.shape
    np.testing.assert_array_equal(batch.valid.sum(0).numpy(), results.lengths[0])
    assert batch.valid[-1].any()  # trailing all-finished steps are dropped
    np.testing.assert_allclose((batch.rewards * batch.valid).sum(0).numpy(), results.returns[0])


@pytest.mark.parametrize("task_id", [*TASK_IDS, "tests.cue_box:CueBox-v0"])
def test_a_part_of_a_collection_plays_as_in_the_whole(task_id: str) -> None:
    """What a Ray worker plays: episodes lo..hi-1 of a collection, bit for bit as in the whole batch, whatever the
    part's size (a policy stepped on fewer rows rounds differently: Box actions would show it in their last bits)."""
    experiment, spec, params = _setup(task_id, hidden=16)
    seeds = episode_seeds(0, "training", 0, 1, 12)[0]
    norm = ObsNorm(np.full(spec.obs_dim, 0.01, np.float32), np.full(spec.obs_dim, 0.3, np.float32))
    evaluator = VectorEvaluator(experiment.task, spec, "local")
    sampling = Sampling(None if spec.discrete else (0.5,) * spec.action_dim)
    whole = evaluator.collect(params[0], seeds, norm, sampling)
    for lo, hi in [(0, 1), (1, 3), (3, 12)]:
        part = evaluator.collect(params[0], seeds, norm, sampling, part=(lo, hi))
        np.testing.assert_array_equal(part.returns[0], whole.returns[0, lo:hi])
        steps = part.trajectories.valid.shape[0]
        for name, value in vars(whole.trajectories).items():
            assert torch.equal(getattr(part.trajectories, name), value[:steps, lo:hi]), name


def test_clear_errors() -> None:
    experiment, spec, _ = _setup()
    plain = make_experiment(task={"id": "CartPole-v1", "kwargs": {}})
    with pytest.raises(ConfigError, match="batched needs a task with a torch-batched form"):
        VectorEvaluator(plain.task, policy_spec(plain.task, plain.policy), "batched", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="evaluation.device: cuda was asked for"):
            VectorEvaluator(experiment.task, spec, "batched", "cuda")


@pytest.mark.parametrize("vectorization", VECTORIZATIONS)
def test_chunks_of_members_score_as_the_whole_population(vectorization: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU a population is scored in chunks of members (their weights fit the cache): each member's returns
    and lengths are those of one whole batch, and the observation statistics add up to the same (up to the order of
    the float64 sums)."""
    from evolstm.evaluation import vector

    experiment, spec, params = _setup("evolstm/MaskedCartPole-v0", members=10)
    seeds = episode_seeds(0, "population", 0, 10, 2)
    norm = ObsNorm.identity(spec.obs_dim)
    whole = VectorEvaluator(experiment.task, spec, vectorization, "cpu").score(params, seeds, norm)
    monkeypatch.setattr(vector, "CPU_CHUNK_BYTES", 1)
    monkeypatch.setattr(vector, "MIN_CHUNK_ENVS", 6)  # chunks of 3 members: 3 + 3 + 3 + 1
    assert vector.chunk_members(torch.device("cpu"), 10, 2, spec.num_params) == 3
    chunked = VectorEvaluator(experiment.task, spec, vectorization, "cpu").score(params, seeds, norm)
    np.testing.assert_array_equal(chunked.returns, whole.returns)
    np.testing.assert_array_equal(chunked.lengths, whole.lengths)
    assert chunked.obs_stats.count == whole.obs_stats.count
    np.testing.assert_allclose(chunked.obs_stats.total, whole.obs_stats.total, rtol=1e-12)
    np.testing.assert_allclose(chunked.obs_stats.total_sq, whole.obs_stats.total_sq, rtol=1e-12)
