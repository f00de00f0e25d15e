"""The lockstep adapter and what a run makes of an env that goes wrong: one line naming the env, member and episode,
exit code 1, and (once the run has started) a run directory that keeps its results and records the error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
import yaml

from evolstm.environment import make_env
from evolstm.lockstep import EnvStepError, LockstepEnvs
from evolstm.run import main
from tests.bad_envs import FAILURES
from tests.conftest import make_experiment
from tests.multi_discrete_env import CueMultiEnv

TASK = {"id": "tests.bad_envs:BadEnv-v0"}


def _lockstep(**kwargs: object) -> LockstepEnvs:
    return LockstepEnvs([make_env(make_experiment(task={**TASK, "kwargs": kwargs}).task) for _ in range(3)])


@pytest.mark.parametrize("fail", [f for f in FAILURES if f != "init"])
def test_every_env_failure_is_an_env_step_error(fail: str) -> None:
    envs = _lockstep(fail=fail)
    with pytest.raises(EnvStepError) as caught:
        envs.reset(seed=[1, 2, 3])
        for _ in range(3):
            envs.step(torch.zeros(3, dtype=torch.int64))
    assert caught.value.index == 0 and caught.value.env_id == "BadEnv-v0"
    assert "\n" not in str(caught.value)


def test_discrete_actions_are_offset_by_the_space_start() -> None:
    envs = _lockstep(start=5)  # the env asserts that every action lies in Discrete(3, start=5)
    envs.reset(seed=[1, 2, 3])
    _, rewards, terminated, _, _ = envs.step(torch.tensor([0, 1, 2]))
    assert rewards.tolist() == [1.0, 1.0, 1.0] and not terminated.any()


class _Received(gymnasium.Wrapper):
    """Keeps the last action the env was given."""

    def step(self, action: Any) -> Any:
        self.received = action
        return self.env.step(action)


def test_multi_discrete_actions_are_offset_per_dimension_and_given_as_int_arrays() -> None:
    envs = LockstepEnvs([_Received(CueMultiEnv()) for _ in range(2)])  # MultiDiscrete([2, 3], start=[0, 1])
    envs.reset(seed=[1, 2])
    envs.step(torch.tensor([[0, 0], [1, 2]]))  # the env asserts that every action lies in its space
    first, second = (env.received for env in envs.envs)
    assert isinstance(first, np.ndarray) and first.dtype == np.int64 and first.shape == (2,)
    assert first.tolist() == [0, 1] and second.tolist() == [1, 3]
    envs.step(torch.zeros(2, 2, dtype=torch.int64))
    right = torch.stack([torch.from_numpy(env.unwrapped.bits) for env in envs.envs])  # the cues, recalled
    _, rewards, terminated, _, _ = envs.step(right)
    assert rewards.tolist() == [1.0, 1.0] and terminated.all()


def _run(tmp_path: Path, capsys: pytest.CaptureFixture, **kwargs: object) -> tuple[int, str, list[Path]]:
    data = make_experiment(task={**TASK, "kwargs": kwargs}).model_dump(mode="json")
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(data))
    code = main([str(tmp_path / "e.yaml"), "--out", str(tmp_path / "runs"), "--quiet"])
    runs = sorted((tmp_path / "runs").iterdir()) if (tmp_path / "runs").exists() else []
    return code, capsys.readouterr().err, runs


@pytest.mark.parametrize("fail", FAILURES)
def test_a_failing_env_ends_the_run_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, fail: str) -> None:
    code, err, runs = _run(tmp_path, capsys, fail=fail)
    assert (
        code == 1
        and err.startswith(("error: env BadEnv-v0", "error: env tests.bad_envs:BadEnv-v0"))
        and err.count("\n") == 1
    ), err
    if fail == "init":  # it failed before the run began: nothing was written
        assert "failed to start: RuntimeError: no licence" in err and not runs
        return
    (run,) = runs
    summary = json.loads((run / "summary.json").read_text())
    assert summary["error"] and "raised in member 0, episode 0" in summary["error"]
    assert (run / "checkpoint.pt").is_file() and (run / "config.yaml").is_file()


def test_an_env_with_a_start_offset_trains(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, err, runs = _run(tmp_path, capsys, start=5)
    assert code == 0, err
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert np.isclose(summary["final_evaluation"]["best"]["mean_return"], 3.0)


def test_rendering_to_a_window_without_pygame_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("gymnasium")
    try:
        import pygame  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pygame is installed here: a window would open")
    data = make_experiment(task={"id": "CartPole-v1", "kwargs": {"render_mode": "human"}}).model_dump(mode="json")
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(data))
    assert main([str(tmp_path / "e.yaml"), "--out", str(tmp_path / "runs"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: env CartPole-v1") and "pygame" in err and err.count("\n") == 1, err
