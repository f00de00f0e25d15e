"""evaluation.compile: the compiled loop step scores like the eager one, up to rounding (the stated tolerance)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolstm.config import ConfigError
from evolstm.environment import make_vector_env, policy_spec
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.fused import compiled_lockstep
from evolstm.normalization import ObsNorm, ObsStats
from evolstm.policies import Policy, PopulationPolicy
from evolstm.rollout import Carry, lockstep
from evolstm.sampling import greedy
from evolstm.seeding import episode_seeds
from evolstm.tasks import TASK_IDS
from tests.conftest import make_experiment

KWARGS = {
    "evolstm/TMaze-v0": {"length": 4},
    "evolstm/PassiveTMaze-v0": {"length": 4},
    "evolstm/RepeatPrevious-v0": {"symbols": 3, "lag": 1, "length": 20},
}
#: the tolerance compiled scoring is held to: per-step head outputs and states within this of eager's, and ...
STEP_TOLERANCE = 1e-5
#: ... at least this share of episodes with exactly eager's return (a last-bit difference can flip a near-tied
#: argmax and change an episode), the mean return within 1%
SAME_EPISODES = 0.95


def _population(task_id: str, members: int, hidden: int = 8) -> tuple:
    experiment = make_experiment(task={"id": task_id, "kwargs": KWARGS.get(task_id, {})}, policy={"hidden": hidden})
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(0)
    center = Policy(spec).flat()
    return experiment, spec, center + 0.3 * torch.randn(members, center.numel())


@pytest.mark.slow
@pytest.mark.parametrize("task_id", TASK_IDS)
def test_compiled_scores_equal_eager_ones_up_to_the_tolerance(task_id: str) -> None:
    experiment, spec, params = _population(task_id, members=64)
    seeds = episode_seeds(0, "population", 0, 64, 4)
    norm = ObsNorm.identity(spec.obs_dim)
    results = [
        VectorEvaluator(experiment.task, spec, "batched", "cpu", compile=compiled).score(params, seeds, norm)
        for compiled in (False, True)
    ]
    eager, fused = results
    same = eager.returns == fused.returns
    assert same.mean() >= SAME_EPISODES, same.mean()
    assert fused.returns.mean() == pytest.approx(eager.returns.mean(), rel=0.01)
    np.testing.assert_allclose(fused.obs_stats.total, eager.obs_stats.total, rtol=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("task_id", TASK_IDS)
def test_compiled_steps_are_within_the_tolerance_of_eager(task_id: str) -> None:
    """Five loop steps: the policy's float32 outputs within STEP_TOLERANCE, the env's float64 state (e.g. CartPole's
    physics, where only cos/sin may differ in the last bit) within 1e-12, everything discrete equal. With Box actions
    (the pole tasks) the actions themselves differ within STEP_TOLERANCE, and the env's state follows them."""
    experiment, spec, params = _population(task_id, members=32)
    policy = PopulationPolicy(spec, params)
    runs = []
    for step in (lockstep, compiled_lockstep()):
        envs = make_vector_env(experiment.task, 64, "batched", torch.device("cpu"))
        obs = envs.reset(seed=np.arange(64))[0]
        zeros = torch.zeros(64, dtype=torch.float64)
        alive = torch.ones(64, dtype=torch.bool)
        carry = Carry(obs, policy.initial_state(2), alive, zeros, zeros.long(), obs[0].double(), obs[0].double())
        for t in range(5):
            carry, _ = step(envs, policy, ObsNorm.identity(spec.obs_dim).on("cpu"), greedy(spec), (32, 2), t, carry)
        runs.append((carry, envs.unwrapped.state))
    (eager, eager_env), (fused, fused_env) = runs
    for a, b in zip([eager.obs, *eager.state, eager.returns], [fused.obs, *fused.state, fused.returns]):
        torch.testing.assert_close(b, a, atol=STEP_TOLERANCE, rtol=STEP_TOLERANCE)
    assert torch.equal(eager.alive, fused.alive) and torch.equal(eager.lengths, fused.lengths)
    env_tolerance = 1e-12 if spec.discrete else STEP_TOLERANCE
    for name, value in eager_env.items():
        if value.is_floating_point():
            torch.testing.assert_close(fused_env[name], value, atol=env_tolerance, rtol=env_tolerance)
        else:
            assert torch.equal(fused_env[name], value), name


def test_compile_needs_the_batched_backend() -> None:
    experiment, spec, _ = _population("evolstm/TMaze-v0", members=2)
    with pytest.raises(ConfigError, match="batched"):
        VectorEvaluator(experiment.task, spec, "local", "cpu", compile=True)
    with pytest.raises(ConfigError, match="compile"):
        make_experiment(evaluation={"backend": "local", "compile": True})
    assert make_experiment(evaluation={"backend": "batched", "compile": True}).evaluation.compile


@pytest.mark.slow
def test_new_populations_and_normalizers_reuse_the_compiled_step() -> None:
    """One trace per batch size and kind of normalizer: each generation's new PopulationPolicy and normalizer of the
    same shapes must not make torch.compile trace the step again (it would compile every generation), nor must the
    first step after a reset differ from later ones (e.g. state tensors aliasing each other)."""
    from torch._dynamo.utils import counters

    experiment, spec, params = _population("evolstm/TMaze-v0", members=4, hidden=4)
    evaluator = VectorEvaluator(experiment.task, spec, "batched", "cpu", compile=True)
    stats = ObsStats(np.ones(spec.obs_dim), 2 * np.ones(spec.obs_dim), 4)
    for generation in range(3):
        for norm in (ObsNorm.identity(spec.obs_dim), ObsNorm.from_stats(stats)):
            counters.clear()
            evaluator.score(params + generation, episode_seeds(0, "population", generation, 4, 2), norm)
            assert counters["stats"]["unique_graphs"] == (0 if generation else 1), (generation, norm)


@pytest.mark.slow
def test_compiled_scoring_from_another_thread_keeps_evolstms_recompile_limit() -> None:
    """dynamo's config is per thread: a thread that scores (as `bench poles`' runs do) must get evolstm's limit
    too, or its ninth batch size would fail (fullgraph) instead of compiling."""
    import threading

    import torch._dynamo

    from evolstm.fused import RECOMPILE_LIMIT

    experiment, spec, params = _population("evolstm/TMaze-v0", members=2, hidden=4)
    evaluator = VectorEvaluator(experiment.task, spec, "batched", "cpu", compile=True)
    seen: list[int] = []

    def score() -> None:
        evaluator.score(params, episode_seeds(0, "population", 0, 2, 1), ObsNorm.identity(spec.obs_dim))
        seen.append(torch._dynamo.config.recompile_limit)

    thread = threading.Thread(target=score)
    thread.start()
    thread.join()
    assert seen == [RECOMPILE_LIMIT]
