"""The Python API: evolstm.train from a YAML path, a dict or an Experiment (plus overrides), the run handle it returns,
the per-step callback, and the README's own example run as written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import evolstm
from evolstm import config
from evolstm.runs import read_metrics
from tests.conftest import make_experiment

ROOT = Path(__file__).parents[1]


def _data() -> dict[str, Any]:
    return config.to_dict(make_experiment())


@pytest.mark.parametrize(
    "experiment, overrides",
    [
        ("yaml", ["trainer.generations=3", "trainer.popsize=6"]),
        ("dict", {"trainer.generations": 3, "trainer.popsize": 6}),
        ("experiment", ("trainer.generations=3", "trainer.popsize=6")),
    ],
)
def test_train_takes_a_yaml_path_a_dict_or_an_experiment(
    experiment: str, overrides: Any, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source: Any = {"dict": _data(), "experiment": make_experiment()}.get(experiment)
    if experiment == "yaml":
        source = tmp_path / "e.yaml"
        source.write_text(json.dumps(_data()))  # JSON is YAML
    run = evolstm.train(source, overrides, out=tmp_path / "runs", quiet=True)
    assert capsys.readouterr().out == f"{run.path}\n"  # quiet: the run directory alone
    assert run.path.parent == tmp_path / "runs"
    assert run.experiment.trainer.generations == 3 and run.experiment.trainer.popsize == 6
    assert run.summary["generations"] == 3 and run.summary["stop_reason"] == "budget"
    assert run.metrics() == read_metrics(run.path) and len(run.metrics()) == 3
    assert list(run.metrics_frame()["generation"]) == [0, 1, 2]
    assert set(run.policies) == {"center", "best"}
    assert run.load_policy().name == "center"


def test_a_mistake_in_the_experiment_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(evolstm.ConfigError, match="trainer.iterations"):
        evolstm.train(_data(), {"trainer.iterations": 3}, out=tmp_path)
    assert not tmp_path.joinpath("runs").exists() and not list(tmp_path.iterdir())


def test_load_policy_defaults_to_reinforces_final_policy(tmp_path: Path) -> None:
    data = config.to_dict(make_experiment(trainer={"kind": "reinforce", "iterations": 2, "episodes": 4}))
    run = evolstm.train(data, out=tmp_path, quiet=True)
    assert set(run.policies) >= {"final"} and evolstm.load_policy(run).name == "final"
    assert evolstm.load_policy(run.policies["final"]).name == "final"  # a policy file on its own
    with pytest.raises(ValueError, match="which= names an exported policy of a run directory"):
        evolstm.load_policy(run.policies["final"], "best")
    with pytest.raises(ValueError, match="no policy named 'center'"):
        evolstm.load_policy(run, "center")


def test_the_callback_sees_every_row_and_stops_the_run(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def stop_after_three(row: dict[str, Any]) -> bool:
        seen.append(row)
        return row["generation"] < 2

    run = evolstm.train(_data(), {"trainer.generations": 10}, out=tmp_path, callback=stop_after_three, quiet=True)
    assert seen == run.metrics() and len(seen) == 3
    summary = run.summary
    assert summary["stop_reason"] == "callback" and summary["generations"] == 3 and not summary["interrupted"]
    assert summary["final_evaluation"]["center"]["episodes"] == 4  # it finished as after its budget
    assert set(run.policies) == {"center", "best"}


def test_a_callback_that_stops_at_the_last_step_does_not_take_the_budgets_place(tmp_path: Path) -> None:
    def stop_at_the_last(row: dict[str, Any]) -> bool:
        return row["generation"] < 1

    run = evolstm.train(_data(), {"trainer.generations": 2}, out=tmp_path, callback=stop_at_the_last, quiet=True)
    assert run.summary["stop_reason"] == "budget" and run.summary["generations"] == 2


def test_a_failing_callback_raises_its_error_and_the_run_keeps_its_results(tmp_path: Path) -> None:
    def broken(row: dict[str, Any]) -> None:
        if row["generation"] == 1:
            raise KeyError("oops")

    with pytest.raises(KeyError, match="oops"):
        evolstm.train(_data(), {"trainer.generations": 5}, out=tmp_path, callback=broken, quiet=True)
    (path,) = tmp_path.iterdir()
    run = evolstm.load_run(path)
    assert len(run.metrics()) == 2 and set(run.policies) == {"center", "best"}
    assert run.summary["stop_reason"] == "error" and "KeyError" in run.summary["error"]


def _readme_example() -> str:
    """The README's Python example (the first python block under "From Python")."""
    section = (ROOT / "README.md").read_text().split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readmes_example_trains_loads_and_plays_in_under_15_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    code = _readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) < 15
    (tmp_path / "experiments").mkdir()
    shutil.copy(ROOT / "experiments/quickstart.yaml", tmp_path / "experiments")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102  (the README's own example, run as a user runs it)
    printed = capsys.readouterr().out.splitlines()[-1].split()
    (run,) = (tmp_path / "runs").iterdir()
    fresh, played = float(printed[-2]), float(printed[-1])
    assert fresh == evolstm.load_run(run).summary["final_evaluation"]["center"]["mean_return"] == 4.0
    assert played == 4.0  # the quickstart's center solves the maze; the user's loop plays it to the goal
