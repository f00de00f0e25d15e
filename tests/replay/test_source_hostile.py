"""Replaying a policy file someone sent: no code named in it is imported, sizes in it are bounded, and every such
mistake (or a bad output path) ends in one `error:` line and exit code 2 (1 when the env's own code fails)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from evolstm.normalization import ObsNorm
from evolstm.policies import PolicySpec
from evolstm.policy_files import save_policy
from evolstm.replay.__main__ import main
from evolstm.training import train
from tests.conftest import make_experiment

TMAZE = {"id": "evolstm/TMaze-v0", "kwargs": {"length": 3}, "observe": None, "max_episode_steps": None}
EVIL_MODULE = 'from pathlib import Path\nPath("imported.marker").write_text("evilmod ran")\n'


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny finished T-maze run."""
    return train(make_experiment(), tmp_path_factory.mktemp("runs"), quiet=True).path


def _policy_file(path: Path, task: dict[str, Any], obs: int = 3, **info: Any) -> Path:
    """A policy file for a 4-action task with `obs` inputs, whose metadata names `task`."""
    spec = PolicySpec("lstm", obs, 4, True, 4, 1)
    save_policy(path, spec, torch.zeros(spec.num_params), ObsNorm.identity(obs), {"task": task, **info})
    return path


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m evolstm.replay ARGS` in `cwd`, as a user would run it there."""
    return subprocess.run(
        [sys.executable, "-m", "evolstm.replay", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def _within(seconds: int) -> Iterator[None]:
    """TimeoutError if the block still runs after `seconds` (a replay that would run until killed)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _one_error_line(err: str, message: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("payload", ["this", "evilmod"])
def test_a_policy_file_never_imports_the_module_its_task_id_names(tmp_path: Path, payload: str) -> None:
    """`this` prints the Zen of Python when imported; `evilmod`, next to the file, writes a marker file."""
    (tmp_path / "evilmod.py").write_text(EVIL_MODULE)
    _policy_file(tmp_path / "policy.safetensors", {**TMAZE, "id": f"{payload}:evolstm/TMaze-v0"})
    shown = _cli(tmp_path, "policy.safetensors", "--out", "out")
    assert shown.returncode == 2 and shown.stdout == "" and "Beautiful is better" not in shown.stderr
    _one_error_line(shown.stderr, f"pass --task {payload}:evolstm/TMaze-v0 if you trust")
    assert not (tmp_path / "imported.marker").exists() and not (tmp_path / "out").exists()


def test_task_option_replays_such_a_file_with_the_trusted_id_and_the_files_kwargs(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "this", raising=False)
    path = _policy_file(tmp_path / "p.safetensors", {**TMAZE, "id": "this:evolstm/TMaze-v0"}, final_episodes=2)
    assert main([str(path), "--task", "evolstm/TMaze-v0", "--out", str(tmp_path / "out")]) == 0
    assert "this" not in sys.modules and "Beautiful" not in capsys.readouterr().out
    index = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert index["task"]["id"] == "evolstm/TMaze-v0" and index["task"]["kwargs"] == {"length": 3}
    assert len(index["returns"]) == 2


def test_task_option_also_replays_a_file_that_names_no_task(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    spec = PolicySpec("lstm", 3, 4, True, 4, 1)
    save_policy(path, spec, torch.zeros(spec.num_params), ObsNorm.identity(3), {})
    assert main([str(path), "--task", "evolstm/TMaze-v0", "--episodes", "1", "--out", str(tmp_path / "o")]) == 0


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("final-episodes-beyond-limit", "final_episodes"),
        ("tmaze-length-1e7", "length must be an int in [1, 10000]"),
        ("repeat-previous-length-1e7", "length must be an int > lag (2) and <= 100000"),
        ("episodes-beyond-limit", "--episodes must be in [1, 100000]"),
        ("task-with-a-run-directory", "--task is for a policy file on its own"),
        ("task-unknown", "--task is not valid here (unknown Gymnasium id 'nosuch/Env-v0'"),
        ("gif-is-a-directory", "is a directory; give a file name"),
        ("mp4-is-a-directory", "is a directory; give a file name"),
    ],
)
def test_sizes_and_outputs_are_checked_before_playing(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, case: str, message: str
) -> None:
    folder = tmp_path / "existing"
    folder.mkdir()
    args = {
        "final-episodes-beyond-limit": [str(_policy_file(tmp_path / "a.safetensors", TMAZE, final_episodes=100_001))],
        "tmaze-length-1e7": [str(_policy_file(tmp_path / "b.safetensors", {**TMAZE, "kwargs": {"length": 10**7}}))],
        "repeat-previous-length-1e7": [
            str(
                _policy_file(
                    tmp_path / "c.safetensors",
                    {"id": "evolstm/RepeatPrevious-v0", "kwargs": {"length": 10**7}},
                    obs=4,
                )
            )
        ],
        "episodes-beyond-limit": [str(run), "--episodes", "100001"],
        "task-with-a-run-directory": [str(run), "--task", "evolstm/TMaze-v0"],
        "task-unknown": [str(_policy_file(tmp_path / "d.safetensors", TMAZE)), "--task", "nosuch/Env-v0"],
        "gif-is-a-directory": [str(run), "--episodes", "1", "--gif", str(folder)],
        "mp4-is-a-directory": [str(run), "--episodes", "1", "--mp4", str(folder)],
    }[case]
    with _within(60):
        assert main([*args, "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "out").exists() and list(folder.iterdir()) == []


def test_an_env_that_fails_to_start_from_the_files_kwargs_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A registered env's own code failing on a value in the metadata (FrozenLake's KeyError) is no traceback."""
    path = _policy_file(tmp_path / "p.safetensors", {"id": "FrozenLake-v1", "kwargs": {"map_name": "nope"}}, obs=16)
    assert main([str(path), "--out", str(tmp_path / "out")]) == 1
    _one_error_line(capsys.readouterr().err, "env FrozenLake-v1 failed to start: KeyError: 'nope'")
