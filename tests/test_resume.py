"""Kill and resume: a run killed with SIGKILL (or stopped by SIGTERM) and resumed from its checkpoint ends with the
same metrics, summary and exported policies, bit for bit, as the run never interrupted; resuming refuses config
changes and corrupt checkpoints with one line and leaves the run directory as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from evolstm import config
from evolstm.policy_files import load_policy
from evolstm.resume import check_changes
from evolstm.run import main
from evolstm.training import train
from evolstm.runs import read_metrics
from tests.conftest import make_experiment

ROOT = Path(__file__).parent.parent
RUNS: dict[str, dict[str, Any]] = {
    "es": {"trainer": {"popsize": 16, "generations": 60}, "checkpoint_every": 3},
    "reinforce": {"trainer": {"kind": "reinforce", "episodes": 8, "iterations": 60}, "checkpoint_every": 3},
}
RAY = {"evaluation": {"backend": "ray", "workers": 2}, "ray": {"num_cpus": 2}}
RAY_AUTO = {"evaluation": {"backend": "ray"}, "ray": {"num_cpus": 2}}


def _yaml(folder: Path, sections: dict[str, Any]) -> Path:
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(make_experiment(**sections))))
    return path


def _outcome(run: Path) -> dict[str, Any]:
    """What must not depend on interruptions: metrics (less timings), totals, final evaluation, policies."""
    summary = json.loads((run / "summary.json").read_text())
    return {
        "metrics": [{k: v for k, v in row.items() if k not in ("wall_time", "step_time")} for row in read_metrics(run)],
        "summary": {
            key: summary.get(key)
            for key in ("generations", "iterations", "env_steps", "final_evaluation", "interrupted")
        },
        "policies": {path.stem: load_policy(path).params.tolist() for path in sorted(run.glob("policies/*"))},
    }


def _start(experiment: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "evolstm.run", str(experiment), "--out", str(out), "--quiet"]
    return subprocess.Popen(command, cwd=ROOT, start_new_session=True, stderr=subprocess.PIPE, text=True)


def _wait_for_rows(process: subprocess.Popen, out: Path, rows: int, timeout: float = 120.0) -> Path:
    """The run's folder once its metrics have `rows` lines (the process must still be running then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for metrics in out.glob("*/metrics.jsonl"):
            if metrics.read_text().count("\n") >= rows:
                assert process.poll() is None, "the run ended before it could be interrupted"
                return metrics.parent
        if process.poll() is not None:
            raise AssertionError(f"the run exited early: {process.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError("the run made no progress")


def _kill_and_resume(tmp_path: Path, sections: dict[str, Any], reference: Path) -> None:
    process = _start(_yaml(tmp_path, sections), tmp_path / "killed")
    run = _wait_for_rows(process, tmp_path / "killed", rows=8)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and everything it started in its session
    process.wait()
    assert main(["--resume", str(run), "--quiet"]) == 0
    assert _outcome(run) == _outcome(reference)


@pytest.mark.parametrize("trainer", list(RUNS))
def test_sigkill_then_resume_equals_the_uninterrupted_run(trainer: str, tmp_path: Path) -> None:
    reference = train(make_experiment(**RUNS[trainer]), tmp_path / "reference", quiet=True).path
    _kill_and_resume(tmp_path, RUNS[trainer], reference)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("trainer", list(RUNS))
def test_sigkill_then_resume_on_ray(trainer: str, tmp_path: Path, ray_cluster: Path) -> None:
    sections = {**RUNS[trainer], **RAY}
    reference = train(make_experiment(**sections), tmp_path / "reference", quiet=True).path
    _kill_and_resume(tmp_path, sections, reference)  # killed: its own private cluster; resumed: the test's


def test_sigterm_checkpoints_the_last_generation_then_resumes(tmp_path: Path) -> None:
    sections = RUNS["es"]
    process = _start(_yaml(tmp_path, sections), tmp_path / "stopped")
    run = _wait_for_rows(process, tmp_path / "stopped", rows=5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert "SIGTERM: stopping after this training step" in process.stderr.read()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] and summary["checkpoint"]["step"] == len(read_metrics(run))
    assert main(["--resume", str(run), "--quiet"]) == 0
    reference = train(make_experiment(**sections), tmp_path / "reference", quiet=True).path
    assert _outcome(run) == _outcome(reference)


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    return train(make_experiment(trainer={"generations": 4}, checkpoint_every=2), tmp_path, quiet=True).path


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "trainer.popsize=4", "--allow-change"], "changed config: trainer.popsize (8 -> 4)"),
        (["--set", "seed=3"], "cannot resume with a changed config: seed (0 -> 3)"),
        (["--set", "trainer.generations=9"], "trainer.generations (4 -> 9); pass --allow-change"),
        (["--set", "trainer.generations=x"], "trainer.generations: Input should be a valid integer"),
    ],
)
def test_config_changes_are_refused_with_the_fields_named(
    finished: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    before = _snapshot(finished)
    assert main(["--resume", str(finished), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert _snapshot(finished) == before


def test_a_budget_raise_is_allowed_and_continues_exactly(finished: Path, tmp_path: Path) -> None:
    assert main(["--resume", str(finished), "--set", "trainer.generations=7", "--allow-change", "--quiet"]) == 0
    reference = train(make_experiment(trainer={"generations": 7}, checkpoint_every=2), tmp_path / "ref", quiet=True)
    assert _outcome(finished) == _outcome(reference.path)
    assert config.load(finished / "config.yaml").trainer.generations == 7


def test_a_finished_run_is_left_alone(finished: Path, capsys: pytest.CaptureFixture) -> None:
    before = _snapshot(finished)
    assert main(["--resume", str(finished)]) == 0
    assert "already finished at generation 4" in capsys.readouterr().out
    assert _snapshot(finished) == before


def test_a_run_stopped_before_its_results_gets_them_on_resume(finished: Path, tmp_path: Path) -> None:
    """E.g. killed during the final evaluation, or stopped by a signal in its last generation."""
    expected = _outcome(finished)
    summary = json.loads((finished / "summary.json").read_text())
    (finished / "summary.json").write_text(json.dumps({**summary, "interrupted": True, "final_evaluation": {}}))
    assert main(["--resume", str(finished), "--quiet"]) == 0
    assert _outcome(finished) == expected


def test_a_checkpoint_from_another_run_is_refused(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    other = train(make_experiment(trainer={"generations": 4}, policy={"hidden": 6}), tmp_path / "o", quiet=True).path
    (finished / "checkpoint.pt").write_bytes((other / "checkpoint.pt").read_bytes())
    before = _snapshot(finished)
    assert main(["--resume", str(finished), "--set", "trainer.generations=9", "--allow-change"]) == 2
    assert "written by a different run (policy.hidden differ)" in capsys.readouterr().err
    assert _snapshot(finished) == before


def test_two_sigterms_stop_at_once_with_143(tmp_path: Path) -> None:
    process = _start(_yaml(tmp_path, RUNS["es"]), tmp_path / "stopped")
    run = _wait_for_rows(process, tmp_path / "stopped", rows=3)
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert main(["--resume", str(run), "--quiet"]) == 0  # from the last checkpoint, whichever it was
    assert json.loads((run / "summary.json").read_text())["generations"] == 60


@pytest.mark.parametrize("trainer", [{}, {"kind": "reinforce"}], ids=["es", "reinforce"])
def test_runs_on_ray_with_automatic_workers_may_move_clusters(trainer: dict) -> None:
    """Results do not depend on the worker count (REINFORCE included), so a resume may change the cluster's size."""
    stored = make_experiment(trainer=trainer, **RAY_AUTO)
    check_changes(stored, make_experiment(trainer=trainer, **{**RAY_AUTO, "ray": {"num_cpus": 8}}), allow=True)


@pytest.mark.parametrize("damage", ["corrupt", "empty", "missing", "not-a-run"])
def test_damaged_runs_give_one_line_and_change_nothing(
    finished: Path, capsys: pytest.CaptureFixture, damage: str
) -> None:
    target = finished
    if damage == "corrupt":
        (finished / "checkpoint.pt").write_bytes((finished / "checkpoint.pt").read_bytes()[:500])
    elif damage == "empty":
        (finished / "checkpoint.pt").write_bytes(b"")
    elif damage == "missing":
        (finished / "checkpoint.pt").unlink()
    else:
        target = finished / "policies"
    before = _snapshot(finished)
    assert main(["--resume", str(target), "--set", "trainer.generations=9", "--allow-change"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    expected = {
        "corrupt": "corrupt checkpoint",
        "empty": "corrupt checkpoint",
        "missing": "no checkpoint",
        "not-a-run": "not a run directory",
    }
    assert expected[damage] in err
    assert _snapshot(finished) == before


def test_rows_after_the_checkpoint_and_a_torn_line_are_redone(tmp_path: Path) -> None:
    sections = {"trainer": {"generations": 6}, "checkpoint_every": 4}
    reference = train(make_experiment(**sections), tmp_path / "reference", quiet=True).path
    run = train(make_experiment(**sections), tmp_path / "run", quiet=True).path
    from evolstm.checkpoints import load_checkpoint, save_checkpoint

    state = load_checkpoint(run / "checkpoint.pt")  # pretend the run died after row 6 of a checkpoint at row 4:
    early = train(make_experiment(**{**sections, "trainer": {"generations": 4}}), tmp_path / "early", quiet=True).path
    save_checkpoint(run / "checkpoint.pt", load_checkpoint(early / "checkpoint.pt"))
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write('{"generation": 6, "be')  # a line torn by the crash
    assert state["metrics_rows"] == 6 and len(read_metrics(run)) == 6
    assert main(["--resume", str(run), "--quiet"]) == 0
    assert _outcome(run) == _outcome(reference)


def test_two_writers_of_one_run_cannot_interleave(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A resume while the run is still being written (by a run or another resume) is refused in one line naming
    the writer's process id; the run's metrics stay the writer's alone."""
    process = _start(_yaml(tmp_path, RUNS["es"]), tmp_path / "runs")
    run = _wait_for_rows(process, tmp_path / "runs", rows=2)
    try:
        code = main(["--resume", str(run), "--set", "trainer.generations=90", "--allow-change", "--quiet"])
        assert code == 2
        err = capsys.readouterr().err
        assert (
            err == f"error: {run}: process {process.pid} is writing this run; wait for it to finish or stop it first\n"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    steps = [row["generation"] for row in read_metrics(run)]
    assert steps == list(range(len(steps)))  # one writer: no repeated or interleaved generations


def test_a_run_that_reached_stop_at_says_to_change_stop_at(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = train(make_experiment(trainer={"generations": 4, "stop_at": -100.0}), tmp_path, quiet=True).path
    assert main(["--resume", str(run), "--set", "trainer.generations=9", "--allow-change"]) == 0
    out = capsys.readouterr().out
    assert "reached stop_at (-100.0)" in out and "--set trainer.stop_at=null" in out, out


@pytest.mark.parametrize(
    ("entry", "value", "message"),
    [
        ("metrics_rows", -3, "metrics_rows is -3"),
        ("metrics_rows", None, "metrics_rows is None"),
        ("metrics_rows", 1, "the trainer completed 4 steps"),
        ("wall_time", float("nan"), "wall_time is nan"),
        ("trainer.steps", "4", "trainer.steps is '4'"),
        ("trainer", None, "section missing"),
    ],
)
def test_checkpoint_entries_are_checked_before_use(
    finished: Path, capsys: pytest.CaptureFixture, entry: str, value: Any, message: str
) -> None:
    """A checkpoint without metrics_rows gave a KeyError, and metrics_rows -3 was accepted (generations repeated)."""
    from evolstm.checkpoints import load_checkpoint, save_checkpoint

    state = load_checkpoint(finished / "checkpoint.pt")
    *parents, leaf = entry.split(".")
    node = state
    for part in parents:
        node = node[part]
    if value is None and leaf == "metrics_rows":
        del node[leaf]
    else:
        node[leaf] = value
    save_checkpoint(finished / "checkpoint.pt", {k: v for k, v in state.items() if k != "format"})
    before = _snapshot(finished)
    assert main(["--resume", str(finished), "--set", "trainer.generations=9", "--allow-change"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert _snapshot(finished) == before
