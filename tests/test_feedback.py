"""The previous action and reward as observation entries: zeros at a reset, what was done and got after a step, the
same in the scalar envs and the torch-batched ones, and a run trains and exports with them."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from evolstm.environment import make_env, make_vector_env, policy_spec
from evolstm.feedback import PreviousActionRewardVector
from evolstm.policy_files import load_policy
from evolstm.replay.__main__ import main as replay_main
from evolstm.tasks import TASK_IDS
from evolstm.training import train
from tests.conftest import make_experiment

FEEDBACK = {"previous_action": True, "previous_reward": True}
#: short episodes of every task, so that random actions end some of them within the steps played
KWARGS = {
    "evolstm/TMaze-v0": {"length": 3},
    "evolstm/RepeatPrevious-v0": {"length": 6},
    "evolstm/MaskedCartPole-v0": {},
}


def _task(task_id: str, **options: bool) -> object:
    return make_experiment(task={"id": task_id, "kwargs": KWARGS.get(task_id, {}), **options}).task


def test_a_reset_shows_zeros_and_a_step_the_one_hot_action_and_its_reward() -> None:
    env = make_env(_task("evolstm/TMaze-v0", **FEEDBACK))
    plain = make_env(_task("evolstm/TMaze-v0"))
    assert env.observation_space.shape == (3 + 4 + 1,)
    obs, _ = env.reset(seed=5)
    np.testing.assert_array_equal(obs, np.concatenate([plain.reset(seed=5)[0], np.zeros(5, np.float32)]))
    for action in (3, 1, 1):  # west (a bump: -0.1), then east twice
        obs, reward, *_ = env.step(action)
        own, same_reward, *_ = plain.step(action)
        assert reward == same_reward
        np.testing.assert_array_equal(
            obs, np.concatenate([own, np.eye(4, dtype=np.float32)[action], [np.float32(reward)]])
        )


def test_either_entry_alone() -> None:
    assert make_env(_task("evolstm/TMaze-v0", previous_action=True)).observation_space.shape == (7,)
    env = make_env(_task("evolstm/TMaze-v0", previous_reward=True))
    env.reset(seed=0)
    assert env.step(3)[0][-1] == np.float32(-0.1)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_batched_entries_equal_the_scalar_envs(task_id: str) -> None:
    task = _task(task_id, **FEEDBACK)
    local = make_vector_env(task, 6, "local", torch.device("cpu"))
    batched = make_vector_env(task, 6, "batched", torch.device("cpu"))
    seeds = np.arange(10, 16)
    obs_local, obs_batched = local.reset(seed=seeds)[0], batched.reset(seed=seeds)[0]
    torch.testing.assert_close(obs_batched, obs_local, rtol=0, atol=0)
    alive = torch.ones(6, dtype=torch.bool)
    generator = torch.Generator().manual_seed(0)
    for _ in range(12):
        actions = _random_actions(batched.single_action_space, generator)
        obs_local, _, ended, cut, _ = local.step(actions)
        obs_batched, *_ = batched.step(actions)
        assert batched.single_observation_space.shape == (obs_local.shape[1],)
        alive &= ~(ended | cut)  # the lockstep adapter keeps an ended env's last observation
        torch.testing.assert_close(obs_batched[alive], obs_local[alive], rtol=0, atol=0)


def test_the_policy_sees_the_entries_and_a_run_exports_them(tmp_path: Path) -> None:
    experiment = make_experiment(task={"id": "evolstm/TMaze-v0", "kwargs": {"length": 3}, **FEEDBACK})
    assert policy_spec(experiment.task, experiment.policy).obs_dim == 3 + 4 + 1
    run = train(experiment, tmp_path, quiet=True)
    task = load_policy(run.path / "policies" / "best.safetensors").info["task"]
    assert task["previous_action"] and task["previous_reward"]
    out = tmp_path / "replay"
    assert replay_main([str(run.path), "--policy", "best", "--out", str(out)]) == 0  # plays the final episodes again
    (index,) = out.glob("*.json")
    reported = json.loads(index.read_text())
    assert reported["mean_return"] == reported["reported_mean_return"]  # with the same entries, the same returns


def test_batched_previous_actions_must_be_discrete() -> None:
    env = gymnasium.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    env.single_action_space = gymnasium.spaces.MultiBinary(3)
    with pytest.raises(ValueError, match="must be Discrete or a flat Box"):
        PreviousActionRewardVector(env)


def _random_actions(space: gymnasium.Space, generator: torch.Generator) -> torch.Tensor:
    """Six random actions of a Discrete or Box space."""
    if isinstance(space, gymnasium.spaces.Discrete):
        return torch.randint(int(space.n), (6,), generator=generator)
    low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
    return low + (high - low) * torch.rand(6, *space.shape, generator=generator)
