"""Tracking sinks: what TensorBoard and MLflow hold after a run, read back and compared with metrics.jsonl (the
record): every numeric key, at the same steps, with the same values; the config as hyperparameters; the final
evaluation; a resume continuing the same MLflow run; a missing package as one line before any run folder exists."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evolstm import config
from evolstm.config import ConfigError
from evolstm.run import main
from evolstm.runs import RunDir, read_metrics
from evolstm.tracking import Tracker, open_tracker
from evolstm.training import RunFailed, train
from tests.conftest import make_experiment

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")

from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

TRAINERS: dict[str, dict[str, Any]] = {
    "es": {"trainer": {"generations": 3}},
    # greedy_every 2: the greedy key is missing from every other row
    "reinforce": {"trainer": {"kind": "reinforce", "episodes": 4, "iterations": 3}, "evaluation": {"greedy_every": 2}},
}


def _step_key(run: Path) -> str:
    return "generation" if "generation" in read_metrics(run)[0] else "iteration"


def _numbers(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite ints and floats of a JSON tree, nested keys joined with "/" (written here apart from the code)."""
    found: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            found.update(_numbers(value, f"{prefix}{key}/"))
        elif type(value) in (int, float) and math.isfinite(value):
            found[f"{prefix}{key}"] = value
    return found


def _expected(run: Path) -> dict[str, dict[int, float]]:
    """Per metric, step -> value, as metrics.jsonl has them, with final/<policy>/<stat> at the last step."""
    step_key = _step_key(run)
    rows = read_metrics(run)
    expected: dict[str, dict[int, float]] = {}
    for row in rows:
        for key, value in _numbers({k: v for k, v in row.items() if k != step_key}).items():
            expected.setdefault(key, {})[row[step_key]] = value
    summary = json.loads((run / "summary.json").read_text())
    for key, value in _numbers(summary["final_evaluation"], "final/").items():
        expected[key] = {rows[-1][step_key]: value}
    assert {"best", "mean", "env_steps", "wall_time", "final/best/mean_return", "final/best/episodes"} <= set(expected)
    return expected


def _tensorboard(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def _check_tensorboard(folder: Path, run: Path) -> None:
    """One event per step and metric, equal to metrics.jsonl at float32 precision; the config as text and hparams."""
    events = _tensorboard(folder)
    expected = _expected(run)
    assert sorted(events.Tags()["scalars"]) == sorted(expected)
    for key, values in expected.items():
        logged = [(event.step, event.value) for event in events.Scalars(key)]
        if key.startswith("final/"):  # a run continued after it finished has its earlier final evaluation too
            logged = logged[-1:]
        assert logged == [(step, float(np.float32(value))) for step, value in sorted(values.items())], key
    text = events.Tensors("config/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert text == f"```yaml\n{(run / 'config.yaml').read_text()}```"
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")


def _mlflow(run: Path) -> tuple[MlflowClient, str]:
    stored = json.loads((run / "tracking.json").read_text())["mlflow"]
    return MlflowClient(tracking_uri=stored["uri"]), stored["run_id"]


def _check_mlflow_metrics(run: Path) -> None:
    """Every metric's last value per step equal to metrics.jsonl (doubles, exactly), and no other metric."""
    client, run_id = _mlflow(run)
    expected = _expected(run)
    assert sorted(client.get_run(run_id).data.metrics) == sorted(expected)
    for key, values in expected.items():
        history = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        if key.startswith("final/"):  # a run continued after it finished has its earlier final evaluation too
            history = history[-1:]
        assert {m.step: m.value for m in history} == values, key
    assert client.get_run(run_id).info.status == "FINISHED"


def _check_mlflow(run: Path) -> None:
    """The metrics, the flattened config as params, the run's name and its directory as a tag."""
    _check_mlflow_metrics(run)
    client, run_id = _mlflow(run)
    logged = client.get_run(run_id)
    flat = config.flat_fields(config.to_dict(config.load(run / "config.yaml")))
    assert logged.data.params == {k: v if isinstance(v, str) else json.dumps(v) for k, v in flat.items()}
    assert logged.data.tags["evolstm.run_dir"] == str(run.resolve()) and logged.info.run_name == run.name


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite MLflow store for the tests that name a URI (making a store's tables takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.mark.parametrize("trainer", list(TRAINERS))
def test_every_numeric_metric_reaches_tensorboard_and_mlflow(trainer: str, store: str, tmp_path: Path) -> None:
    """ES: the default MLflow store and experiment; REINFORCE: a store and experiment named in the config."""
    mlflow = True if trainer == "es" else {"uri": store, "experiment": "named"}
    experiment = make_experiment(**TRAINERS[trainer], tracking={"tensorboard": True, "mlflow": mlflow})
    run = train(experiment, tmp_path, quiet=True).path
    _check_tensorboard(run / "tensorboard", run)
    _check_mlflow(run)
    assert "skipped" not in _expected(run) and "warnings" not in _expected(run)  # bools and lists are not metrics
    client, run_id = _mlflow(run)
    assert client.get_experiment(client.get_run(run_id).info.experiment_id).name == (
        "test" if mlflow is True else "named"
    )
    assert (tmp_path / "mlflow.db").is_file() == (mlflow is True)  # the default store: next to the run directories


def test_a_tensorboard_folder_holds_one_subfolder_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs of one name from two output folders (same second): two subfolders, each with one run's events."""
    monkeypatch.setattr("evolstm.runs.time.strftime", lambda fmt: "20260101-000000")
    tracking = {"tensorboard": str(tmp_path / "tb")}
    runs = [train(make_experiment(tracking=tracking), tmp_path / out, quiet=True).path for out in ("a", "b")]
    assert runs[0].name == runs[1].name == "test-20260101-000000"
    folders = [Path(json.loads((run / "tracking.json").read_text())["tensorboard"]["folder"]) for run in runs]
    assert folders == [tmp_path / "tb" / "test-20260101-000000", tmp_path / "tb" / "test-20260101-000000-2"]
    assert sorted((tmp_path / "tb").iterdir()) == folders
    for run, folder in zip(runs, folders):
        assert not (run / "tensorboard").exists()
        _check_tensorboard(folder, run)


def test_resume_continues_the_same_mlflow_run(store: str, tmp_path: Path) -> None:
    """Killed after row 6 with its checkpoint at row 4 (rows 5 and 6 are redone), then continued with a raised
    budget: one MLflow run, one TensorBoard event per step, both equal to metrics.jsonl."""
    from evolstm.checkpoints import load_checkpoint, save_checkpoint

    tracking = {"tensorboard": True, "mlflow": {"uri": store, "experiment": "resumes"}}
    sections = {"trainer": {"generations": 6}, "checkpoint_every": 4, "tracking": tracking}
    run = train(make_experiment(**sections), tmp_path / "run", quiet=True).path
    early = train(make_experiment(**{**sections, "trainer": {"generations": 4}}), tmp_path / "early", quiet=True).path
    save_checkpoint(run / "checkpoint.pt", load_checkpoint(early / "checkpoint.pt"))
    client, run_id = _mlflow(run)
    assert main(["--resume", str(run), "--quiet"]) == 0
    assert main(["--resume", str(run), "--set", "trainer.generations=8", "--allow-change", "--quiet"]) == 0
    assert [row["generation"] for row in read_metrics(run)] == list(range(8))
    assert _mlflow(run)[1] == run_id
    runs = client.search_runs([client.get_experiment_by_name("resumes").experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted([run_id, _mlflow(early)[1]])
    assert client.get_run(run_id).data.tags["resume.trainer.generations"] == "8"  # a param cannot change
    assert client.get_run(run_id).data.params["trainer.generations"] == "6"
    _check_tensorboard(run / "tensorboard", run)
    _check_mlflow_metrics(run)


@pytest.mark.parametrize("logged", [None, 2], ids=["turned-on-at-resume", "died-after-2-rows"])
def test_a_resume_sends_each_sink_the_rows_it_lacks(logged: int | None, store: str, tmp_path: Path) -> None:
    """open_tracker on a reopened run (as train() resumes it, the new config in config.yaml): sinks that are new, or
    whose run died before they got every row, get the missing rows first, each once."""
    run = train(make_experiment(trainer={"generations": 5}), tmp_path, quiet=True).path
    tracking = {"tensorboard": True, "mlflow": {"uri": store, "experiment": f"catch-up-{logged}"}}
    experiment = make_experiment(trainer={"generations": 5}, tracking=tracking)
    RunDir(run).write_config(config.to_dict(experiment))
    if logged is not None:
        died = open_tracker(experiment, run, resumed=False)
        for row in read_metrics(run)[:logged]:
            died.log(row)
        died.finish({})
    open_tracker(experiment, run, resumed=True).finish(json.loads((run / "summary.json").read_text()))
    _check_tensorboard(run / "tensorboard", run)
    _check_mlflow(run)
    client, run_id = _mlflow(run)
    assert [metric.step for metric in client.get_metric_history(run_id, "wall_time")] == list(range(5))


@pytest.mark.parametrize(
    ("tracking", "blocked", "message"),
    [
        ({"tensorboard": True}, "tensorboard", "tracking.tensorboard: needs the tensorboard package (pip install "),
        ({"mlflow": True}, "mlflow", "tracking.mlflow: needs the mlflow package (pip install 'evolstm[mlflow]')"),
        ({"mlflow": True}, "sqlalchemy", "tracking.mlflow: an SQLite store needs the sqlalchemy package"),
        ({"mlflow": {"uri": "mlruns"}}, None, "tracking.mlflow.uri: 'mlruns' is MLflow's file store"),
    ],
)
def test_a_sink_that_cannot_work_is_one_line_before_the_run_folder(
    tracking: dict[str, Any], blocked: str | None, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if blocked:
        monkeypatch.setitem(sys.modules, blocked, None)  # its import fails as if it were not installed
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(ConfigError) as raised:
        train(make_experiment(tracking=tracking), tmp_path / "out", quiet=True)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_a_sink_that_cannot_be_opened_leaves_no_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = ["--set", f"tracking.tensorboard={blocker}/tb", "--out", str(tmp_path / "out"), "--quiet"]
    assert main([json_experiment(tmp_path), *args]) == 2
    shown = capsys.readouterr()
    assert shown.err.startswith("error: tracking.tensorboard: cannot open it") and shown.err.count("\n") == 1
    assert shown.out == "" and not list((tmp_path / "out").iterdir())  # no run directory printed, none left


def json_experiment(folder: Path) -> str:
    path = folder / "e.json"
    path.write_text(json.dumps(config.to_dict(make_experiment())))
    return str(path)


@pytest.mark.parametrize(
    ("tracking", "message"),
    [
        ({"tensorboard": ""}, "tracking.tensorboard: expected true, false or a folder path"),
        ({"tensorboard": 1}, "tracking.tensorboard: expected true, false or a folder path"),
        ({"mlflow": {"url": "x"}}, "tracking.mlflow.url: unknown key"),
        ({"wandb": True}, "tracking.wandb: unknown key"),
    ],
)
def test_bad_tracking_settings_are_config_errors(tracking: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}$"):
        make_experiment(tracking=tracking)


def test_no_sink_is_a_tracker_that_does_nothing(tmp_path: Path) -> None:
    tracker = open_tracker(make_experiment(), tmp_path, resumed=False)
    tracker.log({"generation": 0, "best": 1.0})
    tracker.finish({"final_evaluation": {}})
    assert list(tmp_path.iterdir()) == []


class _Broken:
    name = "broken"

    def log(self, metrics: dict[str, float], step: int) -> None:
        raise OSError("disk full")

    def finish(self, metrics: dict[str, float], step: int, status: str) -> None:
        raise AssertionError("a dropped sink is not finished")


def test_a_failing_sink_is_dropped_with_one_warning(capsys: pytest.CaptureFixture) -> None:
    tracker = Tracker([_Broken()], "generation")
    for step in range(3):
        tracker.log({"generation": step, "best": 1.0})
    tracker.finish({"final_evaluation": {}})
    err = capsys.readouterr().err
    assert (
        err
        == "warning: tracking.broken: OSError: disk full; not logging to it any more (metrics.jsonl has every row)\n"
    )


def test_a_failed_run_ends_its_mlflow_run_as_failed(store: str, tmp_path: Path) -> None:
    task = {"id": "tests.bad_envs:BadEnv-v0", "kwargs": {"fail": "step"}}  # raises in the first generation
    with pytest.raises(RunFailed):
        train(make_experiment(task=task, tracking={"mlflow": {"uri": store}}), tmp_path, quiet=True)
    (run,) = tmp_path.iterdir()
    client, run_id = _mlflow(run)
    assert client.get_run(run_id).info.status == "FAILED"


class _Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.calls.append(("log", metrics, step))

    def finish(self, metrics: dict[str, float], step: int, status: str) -> None:
        self.calls.append(("finish", metrics, step, status))


@pytest.mark.parametrize(
    ("summary", "status"),
    [
        (
            {"iterations": 2, "interrupted": False, "error": None, "final_evaluation": {"final": {"mean_return": 1.5}}},
            "FINISHED",
        ),
        ({"iterations": 2, "interrupted": True, "error": None, "final_evaluation": {}}, "KILLED"),
        ({"iterations": 2, "interrupted": False, "error": "env raised", "final_evaluation": {}}, "FAILED"),
        ({}, "FAILED"),  # what train() passes when it ends on an unexpected error
    ],
)
def test_finish_says_how_the_run_ended_once(summary: dict[str, Any], status: str) -> None:
    sink = _Recorder()
    tracker = Tracker([sink], "iteration")
    tracker.log({"iteration": 0, "mean": 1.0, "greedy": None, "skipped": True, "nested": {"a": 2, "b": "x"}})
    tracker.log({"iteration": 1, "mean": float("nan"), "warnings": ["w"]})
    tracker.finish(summary)
    tracker.finish(summary)  # a second call, or a row after the end, changes nothing
    tracker.log({"iteration": 2, "mean": 3.0})
    final = {"final/final/mean_return": 1.5} if status == "FINISHED" else {}
    assert sink.calls == [
        ("log", {"mean": 1.0, "nested/a": 2.0}, 0),
        ("log", {}, 1),
        ("finish", final, 1, status),
    ]
