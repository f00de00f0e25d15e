"""python -m evolstm.bench poles: evaluations counted, solutions checked and generalized, rows the same from any number
of processes (the runs' shared episode slots: tests/evaluation/test_stream.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from evolstm.bench.__main__ import main
from evolstm.bench.poles import KINDS, SEARCH_SETTINGS, Method, PoleRuns, parse_method
from evolstm.tasks.poles import DAMPING_STEPS, SOLVED_STEPS


@pytest.mark.parametrize("algorithm", SEARCH_SETTINGS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_method_name_gives_its_searcher_network_and_settings(algorithm: str, kind: str) -> None:
    popsize, stdev = SEARCH_SETTINGS[algorithm]
    assert parse_method(f"{algorithm}-{kind}3") == Method(algorithm, kind, 3, popsize, stdev)
    assert parse_method(f"{algorithm}-{kind}1-p8-s1.5") == Method(algorithm, kind, 1, 8, 1.5)
    assert parse_method(f"{algorithm}-{kind}2-s2") == Method(algorithm, kind, 2, popsize, 2.0)
    assert parse_method(f"{algorithm}-{kind}2-r20") == Method(algorithm, kind, 2, popsize, stdev, patience=20)
    assert parse_method(f"{algorithm}-{kind}2-p8-g10-r5") == Method(algorithm, kind, 2, 8, stdev, 5, 10.0)


@pytest.mark.parametrize(
    "name",
    [
        "hill-rnn1",
        "snes-gru2",
        "snes-rnn0",
        "snes-rnn2-p0",
        "snes-rnn2-s",
        "snes-rnn2-x",
        "snes-rnn2-r0",
        "snes-rnn2-r5-g2",
    ],
)
def test_a_name_that_is_no_method_is_refused_naming_the_form(name: str) -> None:
    with pytest.raises(ValueError, match=r"is not a method: searcher-kindH\[-pN\]\[-sX\]\[-gK\]\[-rG\]"):
        parse_method(name)


@pytest.mark.parametrize(
    ("method", "runs", "narrow", "training", "check"),
    [
        ("snes-rnn2-g10", 50, 16, (256, 16), (64, 16)),  # the default command's rows: all runs' populations at once
        ("cosyne-rnn2", 50, 16, (256, 32), (64, 16)),  # narrowing to one whole population of 32
        ("snes-rnn2-g10", 1, 16, (16, None), (1, None)),  # one run: nothing to narrow to
        ("snes-rnn2-g10", 50, 0, (256, None), (64, None)),  # --narrow 0
    ],
)
def test_the_runs_slots_hold_every_population_and_narrow_to_one(
    method: str, runs: int, narrow: int, training: tuple[int, int | None], check: tuple[int, int | None]
) -> None:
    pole_runs = PoleRuns(method, "double", "damping", runs, max_evaluations=16, compile=False, narrow=narrow)
    loops = pole_runs._stream().loops
    assert (loops["training"].slots, loops["training"].narrow) == training
    assert (loops["check"].slots, loops["check"].narrow) == check


def test_the_networks_played_are_the_searchers_values_with_the_input_weights_times_the_gain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import evolstm.bench.poles as poles

    runs = PoleRuns("snes-rnn2-g10", "double", "standard", runs=1, max_evaluations=16, compile=False)
    scale = runs.method.weight_scale(runs.spec)
    inputs = runs.spec.layout[0]
    assert inputs[0] == "core.weight_ih_l0" and scale.tolist() == [10.0] * 6 + [1.0] * (runs.spec.num_params - 6)
    build, searched, played = poles.make_searcher, [], []

    def recording(trainer: object, problem: object) -> object:
        searcher = build(trainer, problem)
        step = searcher.step

        def step_and_record() -> None:
            step()
            searched.append(searcher.population.values.clone())

        searcher.step = step_and_record
        return searcher

    def evaluate(run: int, params: torch.Tensor, episodes: object) -> torch.Tensor:
        played.append(params)
        runs.results[run].evaluations += len(params)
        return torch.zeros(len(params))

    monkeypatch.setattr(poles, "make_searcher", recording)
    monkeypatch.setattr(runs, "evaluate", evaluate)
    monkeypatch.setattr(runs, "_generalize", lambda: None)
    runs.run()
    assert len(played) == len(searched) == 1 and torch.equal(played[0], searched[0] * scale)


class _Scripted:
    """Episodes with scripted results per loop; records what each loop was asked to play."""

    def __init__(self, answers: dict[str, list[tuple[np.ndarray, np.ndarray]]]) -> None:
        self.answers, self.played = answers, []

    def play(self, loop: str, params: torch.Tensor, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.played.append((loop, len(params)))
        return self.answers[loop].pop(0)


@pytest.mark.parametrize("fitness", ["standard", "damping"])
def test_solutions_are_counted_checked_and_kept(fitness: str) -> None:
    """Scripted returns: in run 1, member 2 solves (standard: 100,000 steps; damping: the best balanced 1,000 steps
    and passes the 100,000-step check); run 0 plays on. Every member of a generation counts as an evaluation."""
    runs = PoleRuns("snes-rnn1", "double", fitness, runs=2, max_evaluations=100, compile=False)
    size = parse_method("snes-rnn1").popsize
    generation = (np.full(size, 0.5), np.full(size, 30))
    solving = (np.full(size, 0.5), np.full(size, 30))
    solving[0][2] = SOLVED_STEPS if fitness == "standard" else 0.9
    solving[1][2] = SOLVED_STEPS if fitness == "standard" else DAMPING_STEPS
    episodes = _Scripted({"training": [generation, solving], "check": [(np.array([1e5]), np.array([100_000]))]})
    params = {run: torch.randn(size, runs.spec.num_params) for run in (0, 1)}
    fitness_of = {run: runs.evaluate(run, params[run], episodes) for run in (0, 1)}
    assert fitness_of[1][2] == (SOLVED_STEPS if fitness == "standard" else 0.9) and fitness_of[0][2] == 0.5
    first, second = runs.results
    assert not first.solved and first.evaluations == size and first.checks == 0
    assert second.solved and second.evaluations == size and torch.equal(second.solution, params[1][2])
    assert second.checks == (1 if fitness == "damping" else 0)
    checks = [("check", 1)] if fitness == "damping" else []
    assert episodes.played == [("training", size), ("training", size), *checks]


def test_a_failed_check_does_not_solve() -> None:
    runs = PoleRuns("snes-rnn1", "double", "damping", runs=1, max_evaluations=100, compile=False)
    size = parse_method("snes-rnn1").popsize
    episodes = _Scripted(
        {
            "training": [(np.full(size, 0.5), np.full(size, DAMPING_STEPS))],
            "check": [(np.array([5000.0]), np.array([5000]))],
        }
    )
    runs.evaluate(0, torch.randn(size, runs.spec.num_params), episodes)
    assert not runs.results[0].solved and runs.results[0].checks == 1


def test_a_failing_or_stalled_searcher_restarts_and_keeps_counting(monkeypatch: pytest.MonkeyPatch) -> None:
    """E.g. CMA-ES's covariance losing definiteness: that run records the error and starts a fresh searcher (a new
    seed); a run whose best stalls for `patience` generations restarts too; evaluations keep counting."""
    import evolstm.bench.poles as poles

    runs = PoleRuns("snes-rnn1", "double", "standard", runs=1, max_evaluations=160, compile=False)
    runs.method = dataclasses.replace(runs.method, patience=2)
    build, seeds = poles.make_searcher, []

    def flaky(trainer: object, problem: object) -> object:
        searcher = build(trainer, problem)
        seeds.append(int(problem.make_uniform(1, lb=0, ub=1e9)[0]))  # the problem's generator, seeded per restart
        if len(seeds) == 1:  # the first searcher fails at once
            searcher.step = lambda: (_ for _ in ()).throw(torch.linalg.LinAlgError("not positive-definite"))
        return searcher

    monkeypatch.setattr(poles, "make_searcher", flaky)
    monkeypatch.setattr(runs, "_generalize", lambda: None)
    (result,) = runs.run()
    assert len(result.errors) == 1 and result.errors[0].endswith("LinAlgError: not positive-definite")
    assert result.restarts >= 2 and len(set(seeds)) == len(seeds) == result.restarts + 1  # the failure, a stall
    assert result.evaluations == 160 and not result.solved


def test_poles_command_writes_json_markdown_and_figure(tmp_path: Path) -> None:
    """A tiny budget (two generations) on the real task: nothing solves, everything is counted and reported."""
    out = tmp_path / "poles.json"
    argv = ["poles", "--runs", "2", "--methods", "snes-rnn1", "--fitness", "standard", "--max-evaluations", "32"]
    assert main([*argv, "--eager", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert (row["method"], row["task"], row["fitness"], row["runs"]) == ("snes-rnn1", "double", "standard", 2)
    assert [r["evaluations"] for r in row["run_rows"]] == [32, 32] and row["solved"] == 0
    table = out.with_suffix(".md").read_text()
    assert "evolstm snes-rnn1" in table and "| CoSyNE | 1,249 | Gomez, Schmidhuber & Miikkulainen" in table
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")


def test_poles_rows_spread_over_processes_are_those_of_one_process(tmp_path: Path) -> None:
    """--jobs 2 plays the table's rows in two spawned processes: the same rows, in the table's order (fitness as
    given), each with its settings, as one process plays."""
    argv = ["poles", "--runs", "2", "--methods", "snes-rnn1", "--fitness", "damping,standard"]
    argv += ["--max-evaluations", "48", "--eager"]
    rows = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs-{jobs}.json"
        assert main([*argv, "--jobs", str(jobs), "--out", str(out)]) == 0
        rows[jobs] = json.loads(out.read_text())
        assert f"{jobs} processes of 1 torch thread(s)" in out.with_suffix(".md").read_text()
    for one, two in zip(rows[1], rows[2], strict=True):
        assert (two["fitness"], two["threads"], two["max_evaluations"]) == (one["fitness"], 1, 48)
        assert [{**r, "seconds": 0} for r in two["run_rows"]] == [{**r, "seconds": 0} for r in one["run_rows"]]
    assert [row["fitness"] for row in rows[2]] == ["damping", "standard"]
