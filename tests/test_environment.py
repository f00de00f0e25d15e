"""Any Gymnasium id works: evolstm tasks, classic control (masked or not), non-Box observations, a user's module."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
import yaml

from evolstm.config import ConfigError
from evolstm.environment import make_env, make_vector_env
from evolstm.run import main
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


def _wrapped(*wrappers: dict, **task: object) -> dict:
    return {"id": "CartPole-v1", "kwargs": {}, **task, "wrappers": list(wrappers)}


def test_wrappers_apply_in_the_order_listed() -> None:
    task = _wrapped(*({"path": "tests.obs_wrappers.AppendConstant", "kwargs": {"value": v}} for v in (1.0, 2.0)))
    env = make_env(make_experiment(task=task).task)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (6,) and obs[-2:].tolist() == [1.0, 2.0]


def test_popgyms_previous_action_wrapper_by_import_path() -> None:
    plain = {"id": "popgym-RepeatPreviousEasy-v0", "kwargs": {}}
    task = {**plain, "wrappers": [{"path": "popgym.wrappers.PreviousAction"}]}
    plain, wrapped = (make_env(make_experiment(task=t).task) for t in (plain, task))
    assert wrapped.observation_space.shape[0] > plain.observation_space.shape[0]  # the previous action joins


def test_wrappers_need_the_local_backend() -> None:
    task = make_experiment(task=_wrapped({"path": "gymnasium.wrappers.RecordEpisodeStatistics"})).task
    with pytest.raises(ConfigError, match="task.wrappers: wrappers apply to the local backend's envs"):
        make_vector_env(task, 2, "batched", torch.device("cpu"))


@pytest.mark.parametrize(
    ("wrapper", "code", "message"),
    [
        (
            {"path": "tests.obs_wrappers.AppendConstant", "kwargs": {"colour": 1}},
            2,
            (
                "error: task.wrappers.0: cannot wrap 'CartPole-v1' in tests.obs_wrappers.AppendConstant with kwargs "
                "{'colour': 1} ("
            ),
        ),
        ({"path": "tests.obs_wrappers.Broken"}, 1, "error: wrapper tests.obs_wrappers.Broken failed on CartPole-v1: "),
        ({"path": "tests.obs_wrappers.Nope"}, 2, "error: task.wrappers.0.path: module 'tests.obs_wrappers' has no"),
    ],
)
def test_a_wrapper_that_fails_is_one_line_and_no_run(
    tmp_path: Path, capsys: pytest.CaptureFixture, wrapper: dict, code: int, message: str
) -> None:
    data = make_experiment().model_dump(mode="json")
    data["task"] = _wrapped(wrapper)
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(data))
    assert main([str(tmp_path / "e.yaml"), "--out", str(tmp_path / "runs"), "--quiet"]) == code
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
