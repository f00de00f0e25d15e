"""Smoke test of the EvoTorch throughput baseline (GymNE and VecGymNE on a tiny LSTM population), and VecGymNE on
evolstm's torch-batched env."""

import random

import gymnasium
import numpy as np
import pytest
import torch

from evolstm.bench.evotorch_baseline import (
    BatchedSameStepEnv,
    _check_batched_env,
    _make_problem,
    evotorch_throughput,
)
from evolstm.tasks.batched import TorchVectorEnv


@pytest.mark.parametrize(("vectorized", "batched_env"), [(False, False), (True, False), (True, True)])
def test_all_modes_report_positive_throughput(vectorized: bool, batched_env: bool) -> None:
    result = evotorch_throughput(
        "evolstm/MaskedCartPole-v0",
        hidden=4,
        popsize=3,
        episodes=1,
        vectorized=vectorized,
        repeats=1,
        seed=0,
        batched_env=batched_env,
    )
    assert result["env_steps"] >= 3  # every policy takes at least one step
    assert result["seconds"] > 0
    assert result["env_steps_per_s"] == pytest.approx(result["env_steps"] / result["seconds"])
    assert result["env_steps_per_s"] > 0
    assert result["episodes_done"] == 3
    assert result["threads"] >= 1
    assert result["vectorized"] == float(vectorized)
    assert result["batched_env"] == float(batched_env)


@pytest.mark.parametrize("batched_env", [False, True])
def test_tmaze_kwargs_reach_the_env(batched_env: bool) -> None:
    # T-maze length 1 truncates after 4 * (1 + 1) = 8 steps, so no episode can be longer.
    result = evotorch_throughput(
        "evolstm/TMaze-v0",
        hidden=4,
        popsize=2,
        episodes=2,
        vectorized=True,
        repeats=1,
        env_kwargs={"length": 1},
        batched_env=batched_env,
    )
    assert 2 * 2 <= result["env_steps"] <= 2 * 2 * 8
    assert result["episodes_done"] == 4


def _first_evaluation(batched_env: bool, task_id: str, env_kwargs: dict, popsize: int, episodes: int):
    random.seed(3)
    problem = _make_problem(task_id, 4, episodes, True, batched_env, env_kwargs)
    problem.manual_seed(3)
    batch = problem.generate_batch(popsize)
    batch.set_values(problem.make_gaussian(num_solutions=popsize, center=0.0, stdev=0.5))
    problem.evaluate(batch)
    return problem, batch.evals.flatten().tolist(), problem.interaction_count


@pytest.mark.parametrize(
    ("task_id", "env_kwargs"),
    [("evolstm/MaskedCartPole-v0", {}), ("evolstm/RepeatPrevious-v0", {"symbols": 3, "lag": 1, "length": 5})],
)
def test_batched_env_runs_the_episodes_of_evotorchs_scalar_envs(task_id: str, env_kwargs: dict) -> None:
    # Same seed: the adapter seeds the batched env as EvoTorch's SyncVectorEnv seeds its scalar envs, and the batched
    # env is bit-identical to its scalar twin, so VecGymNE gets the same fitnesses and interaction count (episodes of
    # several lengths, two per policy: the same-step reset and the episode counting are exercised).
    problem, evals, steps = _first_evaluation(True, task_id, env_kwargs, popsize=4, episodes=2)
    _, scalar_evals, scalar_steps = _first_evaluation(False, task_id, env_kwargs, popsize=4, episodes=2)
    assert evals == scalar_evals
    assert steps == scalar_steps
    assert isinstance(problem.get_env().unwrapped, TorchVectorEnv)
    assert problem.get_env().env.batched_steps > 0
    _check_batched_env(problem)  # does not raise


def test_batched_check_refuses_evotorchs_scalar_envs() -> None:
    problem, _, _ = _first_evaluation(False, "evolstm/TMaze-v0", {"length": 1}, popsize=2, episodes=1)
    with pytest.raises(RuntimeError, match="BatchedSameStepEnv"):
        _check_batched_env(problem)


def test_adapter_needs_a_batched_env_without_autoreset() -> None:
    env = gymnasium.make_vec(
        "evolstm/TMaze-v0", num_envs=2, vectorization_mode="vector_entry_point", device="cpu", length=1
    )  # Gymnasium's default autoreset (NEXT_STEP)
    with pytest.raises(ValueError, match="DISABLED"):
        BatchedSameStepEnv(env, num_episodes=1)


def _tmaze_envs(num_envs: int) -> gymnasium.vector.VectorEnv:
    return gymnasium.make_vec(
        "evolstm/TMaze-v0",
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        device="cpu",
        autoreset_mode=gymnasium.vector.AutoresetMode.DISABLED,
        length=1,
    )


def test_adapter_resets_ended_envs_in_the_same_step_until_their_episodes_run_out() -> None:
    adapter = BatchedSameStepEnv(_tmaze_envs(2), num_episodes=2)
    twin = _tmaze_envs(2)  # stepped by hand: reset with SyncVectorEnv's sub-seeds, the second episode unseeded
    adapter.seed(0)
    adapter.reset()
    twin.reset(seed=[int(s) for s in np.random.RandomState(0).randint(0, 2**32, 2)])
    north = torch.zeros(2, dtype=torch.int64)  # into the wall at the start: truncated after 8 steps (length 1)
    for t in range(1, 17):
        obs, _, terminated, truncated, _ = adapter.step(north)
        twin_obs, _, _, _, _ = twin.step(north)
        assert (terminated | truncated).tolist() == [t in (8, 16)] * 2
        if t == 8:  # the second episode starts in the step that ended the first
            twin_obs, _ = twin.reset()
        torch.testing.assert_close(obs, twin_obs)  # at 16: the final observation, no third episode
    assert adapter.batched_steps == 16


def test_batched_env_needs_vecgymne() -> None:
    with pytest.raises(ValueError, match="vectorized=True"):
        evotorch_throughput("evolstm/TMaze-v0", 2, 2, 1, vectorized=False, batched_env=True)
