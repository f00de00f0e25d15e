"""What a run prints: plain lines with ETA in a pipe, a tqdm bar on a terminal, only the run directory when quiet,
why it stopped early, Ray's start-up and the final evaluation."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from evolstm import training
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.progress import duration
from evolstm.training import train
from tests.conftest import make_experiment


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_plain_lines_with_eta_and_the_final_evaluation(tmp_path: Path) -> None:
    out = io.StringIO()
    run = train(make_experiment(trainer={"generations": 4}, log_every=2), tmp_path, stream=out)
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text  # no bar codes in a pipe or a CI log
    lines = text.splitlines()
    assert lines[0].startswith("evolstm: test | evolstm/TMaze-v0 | lstm") and str(run.path) in lines[0]
    steps = [line for line in lines if line.startswith("gen ")]
    assert [line.split("|")[0].split()[1] for line in steps] == ["1/4", "3/4", "4/4"]
    assert all("| eta " in line for line in steps[:-1]) and "eta" not in steps[-1]
    assert "final evaluation: center on 4 fresh episodes ..." in lines
    assert any(line.startswith("center: mean return") and "over 4 fresh episodes" in line for line in lines)
    assert lines[-1].startswith("done in ") and lines[-1].endswith(str(run.path))


def test_a_terminal_gets_a_bar_with_eta_and_the_lines_above_it(tmp_path: Path) -> None:
    out = Terminal()
    train(make_experiment(trainer={"generations": 3}), tmp_path, stream=out)
    text = out.getvalue()
    assert "\r" in text and "3/3" in text and "gen/s" in text  # tqdm's bar: count, total and rate
    assert "gen     1/3 |" in text  # the first step's line, written above the bar


def test_quiet_prints_the_run_directory_alone(tmp_path: Path) -> None:
    out = Terminal()
    run = train(make_experiment(), tmp_path, stream=out, quiet=True)
    assert out.getvalue() == f"{run.path}\n"


def test_a_run_stopped_by_stop_at_says_so(tmp_path: Path) -> None:
    out = io.StringIO()
    run = train(make_experiment(trainer={"generations": 50, "stop_at": -100.0}), tmp_path, stream=out)
    assert "reached stop_at (-100.0) at generation 1" in out.getvalue().splitlines()
    assert run.completed()
    assert '"stop_reason": "stop_at"' in (run.path / "summary.json").read_text()


def test_ray_start_up_is_announced_and_timed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = make_experiment(evaluation={"backend": "ray", "workers": 2})

    def fake_ray(experiment: object, spec: object) -> VectorEvaluator:  # no cluster: the lines are what is tested
        evaluator = VectorEvaluator(make_experiment().task, spec, "local")
        evaluator.workers = [object(), object()]
        return evaluator

    monkeypatch.setattr(training, "make_evaluator", fake_ray)
    out = io.StringIO()
    train(experiment, tmp_path, stream=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "ray: starting a private cluster ..."
    assert re.fullmatch(r"ray: cluster ready in [0-9.]+s; 2 workers start with the first step", lines[1])
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    out = io.StringIO()
    train(experiment, tmp_path, stream=out)
    assert out.getvalue().startswith("ray: joining the cluster at 127.0.0.1:6379 ...\n")


@pytest.mark.parametrize("seconds, shown", [(3.21, "3.2s"), (65, "1m05s"), (3725, "1h02m")])
def test_durations_read_short(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown
