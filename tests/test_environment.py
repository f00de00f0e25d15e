"""Any Gymnasium id works: evolstm tasks, classic control (masked or not), non-Box observations, a user's module."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest

from evolstm.config import ConfigError
from evolstm.environment import make_env
from evolstm.training import train
from tests.conftest import make_experiment

USER_MODULE = '''
import gymnasium, numpy as np

class Blink(gymnasium.Env):
    """Shows a bit once, then asks for it back."""
    observation_space = gymnasium.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.bit, self.t = int(self.np_random.integers(2)), 0
        return np.array([self.bit, 0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t == 3
        return np.array([0.0, float(done)], np.float32), float(done and action == self.bit), done, False, {}

gymnasium.register("Blink-v0", entry_point=Blink)
'''


def test_observation_mask_keeps_chosen_entries() -> None:
    env = make_env(make_experiment(task={"id": "CartPole-v1", "kwargs": {}, "observe": [0, 2]}).task)
    assert env.observation_space.shape == (2,)
    obs, _ = env.reset(seed=0)
    full, _ = gymnasium.make("CartPole-v1").reset(seed=0)
    np.testing.assert_array_equal(obs, full[[0, 2]])
    with pytest.raises(ConfigError, match=r"task.observe: entries \[7\] do not fit"):
        make_env(make_experiment(task={"id": "CartPole-v1", "kwargs": {}, "observe": [7]}).task)


def test_non_box_observations_are_flattened() -> None:
    env = make_env(make_experiment(task={"id": "FrozenLake-v1", "kwargs": {}}).task)
    assert env.observation_space.shape == (16,)
    assert env.reset(seed=0)[0].sum() == 1.0


def test_a_users_module_env_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "user_blink.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    experiment = make_experiment(task={"id": "user_blink:Blink-v0", "kwargs": {}})
    run = train(experiment, tmp_path / "runs", quiet=True)
    assert (run.path / "policies/center.safetensors").is_file()


def test_continuous_actions_train(tmp_path: Path) -> None:
    experiment = make_experiment(
        task={"id": "Pendulum-v1", "kwargs": {}, "observe": [0, 1], "max_episode_steps": 20},
        trainer={"algorithm": "pgpe"},
    )
    run = train(experiment, tmp_path, quiet=True)
    assert (run.path / "summary.json").is_file()
