"""The local evaluator and the rollout it uses: seeded, deterministic, every episode played to its own end."""

from __future__ import annotations

import gymnasium
import numpy as np
import torch

from evolstm.environment import make_env
from evolstm.evaluation.local import LocalEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PolicySpec
from evolstm.seeding import episode_seeds
from tests.conftest import make_experiment


def _setup(**sections):
    experiment = make_experiment(**sections)
    env = make_env(experiment.task)
    spec = PolicySpec.for_spaces("lstm", 4, 1, env.observation_space, env.action_space)
    torch.manual_seed(0)
    params = torch.stack([Policy(spec).flat() for _ in range(3)])
    return LocalEvaluator(experiment.task, spec), spec, params


def test_same_seeds_give_the_same_results() -> None:
    evaluator, spec, params = _setup()
    seeds = episode_seeds(0, "population", 0, 3, 4)
    first = evaluator.evaluate(params, seeds, ObsNorm.identity(spec.obs_dim))
    again = evaluator.evaluate(params, seeds, ObsNorm.identity(spec.obs_dim))
    np.testing.assert_array_equal(first.returns, again.returns)
    np.testing.assert_array_equal(first.lengths, again.lengths)
    assert first.returns.shape == (3, 4)
    assert first.env_steps == first.lengths.sum() == first.obs_stats.count


def test_results_match_a_plain_gymnasium_loop() -> None:
    evaluator, spec, params = _setup(task={"id": "evolstm/MaskedCartPole-v0", "kwargs": {}})
    seeds = episode_seeds(3, "population", 1, 3, 2)
    results = evaluator.evaluate(params, seeds, ObsNorm.identity(spec.obs_dim))
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
    assert not np.array_equal(episode_seeds(7, "center", 3, 1, 2), seeds[:1])
