"""python -m evolstm.replay: files that are there and right, the run's reported return reproduced, one-line errors."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import ClassVar

import gymnasium
import numpy as np
import pytest
import torch
from PIL import Image

from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PolicySpec
from evolstm.policy_files import save_policy
from evolstm.replay.__main__ import main
from evolstm.training import train
from tests.conftest import make_experiment

RUNS = {
    "es-local": {"evaluation": {"final_episodes": 6}},
    "es-batched": {"evaluation": {"backend": "batched", "final_episodes": 6}},
    "reinforce": {
        "trainer": {"kind": "reinforce", "episodes": 4, "iterations": 2},
        "evaluation": {"final_episodes": 6},
    },
    "es-obs-norm": {"policy": {"kind": "lstm", "hidden": 4, "obs_norm": True}, "evaluation": {"final_episodes": 6}},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny finished run per trainer/backend (T-maze length 3, 6 final episodes)."""
    out = tmp_path_factory.mktemp("runs")
    return {
        name: train(make_experiment(name=name, **sections), out, quiet=True).path for name, sections in RUNS.items()
    }


def _index(folder: Path) -> dict:
    (path,) = folder.glob("*.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("run_name", list(RUNS))
def test_replay_writes_right_files_and_reproduces_the_reported_return(
    runs: dict[str, Path], run_name: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = runs[run_name]
    summary = json.loads((run / "summary.json").read_text())
    for policy, reported in summary["final_evaluation"].items():
        out, gif = tmp_path / policy, tmp_path / f"{policy}.gif"
        assert main([str(run), "--policy", policy, "--out", str(out), "--gif", str(gif), "--traces", "2"]) == 0
        shown = capsys.readouterr().out.splitlines()
        assert len(shown) == 6 + 2 and f"(the run reported {reported['mean_return']:.3f})" in shown[-2]
        index = _index(out)
        assert index["mean_return"] == reported["mean_return"] == index["reported_mean_return"]
        arrays = np.load(out / index["files"]["trajectories"])
        np.testing.assert_array_equal(arrays["returns"], index["returns"])
        lengths = arrays["lengths"]
        assert arrays["observations"].shape == (6, lengths.max() + 1, 3)
        assert arrays["cell"].shape == arrays["forget_gate"].shape == (6, lengths.max(), 1, 4)
        with Image.open(gif) as animation:  # the first episode only, by default
            assert animation.n_frames == int(lengths[0] + 1) and index["files"]["animation_episodes"] == 1
        for name in index["files"]["memory_traces"]:
            with Image.open(out / name) as figure:
                assert figure.format == "PNG" and figure.width > 500
        assert len(index["files"]["memory_traces"]) == 2 and index["events"][0]["0"] == "cue"


def test_replay_uses_the_runs_observation_normalizer(runs: dict[str, Path], tmp_path: Path) -> None:
    """A run trained with obs_norm is replayed under the normalizer exported with its policy, not the identity."""
    from evolstm.policy_files import load_policy

    run = runs["es-obs-norm"]
    norm = load_policy(run / "policies" / "best.safetensors").norm
    assert not (np.allclose(norm.mean, 0.0) and np.allclose(norm.std, 1.0))  # the run did learn statistics
    assert main([str(run), "--policy", "best", "--out", str(tmp_path)]) == 0
    arrays = np.load(tmp_path / _index(tmp_path)["files"]["trajectories"])
    length = int(arrays["lengths"][0])
    expected = ((arrays["observations"][0, :length] - norm.mean) / norm.std).clip(-5, 5)
    np.testing.assert_array_equal(arrays["inputs"][0, :length], expected)


def test_same_arguments_same_replay(runs: dict[str, Path], tmp_path: Path) -> None:
    run = runs["es-local"]
    for out in ("a", "b"):
        assert main([str(run), "--seed", "7", "--episodes", "3", "--out", str(tmp_path / out)]) == 0
    first, second = np.load(tmp_path / "a/best-seed7-3.npz"), np.load(tmp_path / "b/best-seed7-3.npz")
    assert sorted(first.files) == sorted(second.files)
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    np.testing.assert_array_equal(first["seeds"], [7, 8, 9])


def test_a_policy_file_on_its_own_replays_the_runs_episodes(runs: dict[str, Path], tmp_path: Path) -> None:
    run = runs["reinforce"]
    shared = tmp_path / "from-a-colleague.safetensors"
    shutil.copy(run / "policies/final.safetensors", shared)
    assert main([str(shared), "--out", str(tmp_path / "out")]) == 0
    reported = json.loads((run / "summary.json").read_text())["final_evaluation"]["final"]["mean_return"]
    assert _index(tmp_path / "out")["mean_return"] == reported


def test_video_episodes_films_the_first_v_episodes_and_keeps_every_episodes_data(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    gif, out = tmp_path / "r.gif", tmp_path / "out"
    assert main([str(runs["es-local"]), "--gif", str(gif), "--video-episodes", "3", "--out", str(out)]) == 0
    index = _index(out)
    lengths = np.load(out / index["files"]["trajectories"])["lengths"]
    assert len(lengths) == len(index["returns"]) == 6 and index["files"]["animation_episodes"] == 3
    with Image.open(gif) as animation:
        assert animation.n_frames == int((lengths[:3] + 1).sum())


def test_animation_folders_are_created(runs: dict[str, Path], tmp_path: Path) -> None:
    gif = tmp_path / "new" / "folder" / "r.gif"
    assert main([str(runs["es-local"]), "--episodes", "1", "--gif", str(gif), "--out", str(tmp_path / "o")]) == 0
    assert gif.is_file()


def test_mp4(runs: dict[str, Path], tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    video = tmp_path / "replay.mp4"
    args = ["--episodes", "2", "--video-episodes", "2", "--mp4", str(video), "--out", str(tmp_path)]
    assert main([str(runs["es-local"]), *args]) == 0
    lengths = np.load(tmp_path / "best-final-2.npz")["lengths"]
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == int((lengths + 1).sum())


class Steer(gymnasium.Env):
    """Follow a drifting target with a continuous action; no rendering at all."""

    metadata: ClassVar[dict] = {"render_modes": []}
    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.target = float(self.np_random.uniform(-1, 1))
        return np.array([self.target, 0.0], np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = -abs(float(action[0]) - self.target)
        self.target = float(np.clip(self.target + self.np_random.normal(0, 0.1), -1, 1))
        return np.array([self.target, 1.0], np.float32), reward, False, False, {}


gymnasium.register("Steer-v0", entry_point=Steer, max_episode_steps=10)


def test_mp4_without_pyav_fails_before_playing(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # as if PyAV were not installed
    assert main([str(runs["es-local"]), "--mp4", str(tmp_path / "x.mp4"), "--out", str(tmp_path / "out")]) == 2
    shown = capsys.readouterr()
    assert shown.err == 'error: MP4 output needs PyAV: pip install "evolstm[video]" (or use --gif)\n'
    assert shown.out == "" and not (tmp_path / "out").exists()


def _foreign_policy(path: Path, task: dict | None) -> str:
    spec = PolicySpec("lstm", 4, 2, True, 4, 1)  # a masked-CartPole-sized policy
    save_policy(path, spec, Policy(spec).flat(), ObsNorm.identity(4), {} if task is None else {"task": task})
    return str(path)


@pytest.mark.parametrize("video", ["--gif", "--mp4"])
def test_an_env_whose_renderer_lacks_pygame_is_an_error_before_playing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, video: str
) -> None:
    if video == "--mp4":
        pytest.importorskip("av")  # without PyAV, --mp4 stops earlier (its own test)
    monkeypatch.setitem(sys.modules, "pygame", None)  # as if pygame were not installed (CartPole draws with it)
    policy = _foreign_policy(tmp_path / "p.safetensors", {"id": "CartPole-v1"})
    animation, out = tmp_path / "new" / f"x.{video[2:]}", tmp_path / "out"
    assert main([policy, video, str(animation), "--out", str(out)]) == 2
    shown = capsys.readouterr()
    assert shown.err.startswith(f"error: {video}: CartPole-v1 cannot be animated: rendering failed: ")
    assert "pygame is not installed" in shown.err and "pip install" in shown.err and shown.err.count("\n") == 1
    assert shown.out == "" and not out.exists() and not animation.parent.exists()  # nothing played or written


def test_an_env_without_rgb_array_is_an_error_for_gif_and_still_replays_without(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = train(
        make_experiment(task={"id": "Steer-v0", "kwargs": {}}, trainer={"generations": 1}), tmp_path, quiet=True
    ).path
    capsys.readouterr()  # the run's own lines
    gif = tmp_path / "none.gif"
    assert main([str(run), "--gif", str(gif), "--episodes", "2"]) == 2
    shown = capsys.readouterr()
    assert (
        shown.err
        == "error: --gif: Steer-v0 cannot be animated: it has no rgb_array render mode (its render modes: [])\n"
    )
    assert shown.out == "" and not gif.exists() and not (run / "replays").exists()  # nothing played or written
    assert main([str(run), "--episodes", "2"]) == 0
    index = _index(run / "replays")
    assert index["files"]["animation"] is None and len(index["files"]["memory_traces"]) == 1
    assert np.load(run / "replays" / index["files"]["trajectories"])["actions"].shape == (2, 10, 1)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such run directory or policy file"),
        ("unknown-name", "no policy named 'median' (exported: best, center"),
        ("corrupt", "corrupt policy file"),
        ("other-task", "trained on evolstm/MaskedCartPole-v0, but"),
        ("wrong-sizes", "does not fit task evolstm/TMaze-v0"),
        ("no-task", "its metadata names no task"),
        ("zero-episodes", "--episodes must be in [1, 100000]"),
        ("negative-seed", "--seed must be in [0, 2**32 - episodes]"),
        ("negative-fps", "--fps must be in (0, 1000]"),
        ("infinite-fps", "--fps must be in (0, 1000]"),
        ("out-is-a-file", "cannot write there"),
        ("more-video-than-episodes", "--video-episodes must be in [1, --episodes] = [1, 6], got 7"),
        ("no-video-episodes", "--video-episodes must be in [1, --episodes] = [1, 6], got 0"),
        ("video-episodes-without-video", "--video-episodes is for --gif or --mp4"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture, case: str, message: str
) -> None:
    run = str(runs["es-local"])
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes((runs["es-local"] / "policies/best.safetensors").read_bytes()[:100])
    args = {
        "missing": [str(tmp_path / "absent")],
        "unknown-name": [run, "--policy", "median"],
        "corrupt": [run, "--policy", str(corrupt)],
        "other-task": [
            run,
            "--policy",
            _foreign_policy(tmp_path / "a.safetensors", {"id": "evolstm/MaskedCartPole-v0"}),
        ],
        "wrong-sizes": [run, "--policy", _foreign_policy(tmp_path / "b.safetensors", {"id": "evolstm/TMaze-v0"})],
        "no-task": [_foreign_policy(tmp_path / "c.safetensors", None)],
        "zero-episodes": [run, "--episodes", "0"],
        "negative-seed": [run, "--seed=-1"],
        "negative-fps": [run, "--fps=-3", "--gif", str(tmp_path / "x.gif")],
        "infinite-fps": [run, "--fps=inf", "--mp4", str(tmp_path / "x.mp4")],
        "out-is-a-file": [run, "--gif", str(corrupt / "x.gif")],
        "more-video-than-episodes": [run, "--gif", str(tmp_path / "x.gif"), "--video-episodes", "7"],
        "no-video-episodes": [run, "--gif", str(tmp_path / "x.gif"), "--video-episodes", "0"],
        "video-episodes-without-video": [run, "--video-episodes", "2"],
    }[case]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_seed_is_what_changes_the_episodes(runs: dict[str, Path], tmp_path: Path) -> None:
    run = str(runs["es-local"])
    torch.manual_seed(0)  # replays must not depend on the global RNG either
    assert main([run, "--seed", "1", "--episodes", "4", "--out", str(tmp_path / "a")]) == 0
    torch.manual_seed(123)
    np.random.seed(5)
    assert main([run, "--seed", "1", "--episodes", "4", "--out", str(tmp_path / "b")]) == 0
    a, b = np.load(tmp_path / "a/best-seed1-4.npz"), np.load(tmp_path / "b/best-seed1-4.npz")
    np.testing.assert_array_equal(a["observations"], b["observations"])


def test_a_multi_discrete_policy_replays_with_a_trace(tmp_path: Path) -> None:
    run = train(
        make_experiment(task={"id": "tests.multi_discrete_env:CueMulti-v0", "kwargs": {}}, trainer={"generations": 1}),
        tmp_path,
        quiet=True,
    ).path
    assert main([str(run), "--episodes", "2", "--traces", "1"]) == 0
    index = _index(run / "replays")
    assert len(index["files"]["memory_traces"]) == 1
    assert np.load(run / "replays" / index["files"]["trajectories"])["actions"].shape == (2, 3, 2)
