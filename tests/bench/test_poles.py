"""python -m evolstm.bench poles: runs in lockstep rounds, evaluations counted, solutions checked and generalized."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from evolstm.bench.__main__ import main
from evolstm.bench.poles import METHODS, PoleRuns, RoundError, Rounds
from evolstm.tasks.poles import DAMPING_STEPS, SOLVED_STEPS


def test_rounds_score_all_runs_at_once_and_let_runs_leave() -> None:
    calls: list[list[int]] = []

    def score(waiting: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        calls.append(sorted(waiting))
        return {run: params.sum(1) for run, params in waiting.items()}

    rounds = Rounds(3, score)
    got: dict[int, list[float]] = {}

    def search(run: int, generations: int) -> None:
        got[run] = [float(rounds.evaluate(run, torch.full((2, 1), float(run + g))).sum()) for g in range(generations)]
        rounds.leave()

    threads = [threading.Thread(target=search, args=(run, run + 1)) for run in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [[0, 1, 2], [1, 2], [2]]  # each round holds every run still searching
    assert got == {0: [0.0], 1: [2.0, 4.0], 2: [4.0, 6.0, 8.0]}


def test_an_error_in_a_round_reaches_every_waiting_run() -> None:
    def score(waiting: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        raise RuntimeError("env broke")

    rounds = Rounds(2, score)
    errors: list[str] = []

    def search(run: int) -> None:
        try:
            rounds.evaluate(run, torch.zeros(1, 1))
        except RoundError as err:
            errors.append(str(err))

    threads = [threading.Thread(target=search, args=(run,), daemon=True) for run in range(2)]  # a hang fails
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == ["env broke", "env broke"]


@pytest.mark.parametrize("fitness", ["standard", "damping"])
def test_solutions_are_counted_checked_and_kept(fitness: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripted returns: in run 1, member 2 solves (standard: 100,000 steps; damping: the best balanced 1,000 steps
    and passes the 100,000-step check); run 0 plays on. Every member of the round counts as an evaluation."""
    runs = PoleRuns("snes-rnn1", "double", fitness, runs=2, max_evaluations=100, compile=False)
    size = METHODS["snes-rnn1"].popsize
    played: list[int] = []

    def play(evaluator: object, params: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        played.append(len(params))
        if len(params) == 2 * size:  # a training round: run 0's members, then run 1's
            returns, lengths = np.full(2 * size, 0.5), np.full(2 * size, 30)
            returns[size + 2] = SOLVED_STEPS if fitness == "standard" else 0.9
            lengths[size + 2] = SOLVED_STEPS if fitness == "standard" else DAMPING_STEPS
            return returns, lengths
        assert fitness == "damping" and len(params) == 1  # the check of run 1's best
        return np.array([float(SOLVED_STEPS)]), np.array([SOLVED_STEPS])

    monkeypatch.setattr(runs, "_play", play)
    monkeypatch.setattr(runs, "_generalize", lambda: None)
    params = {run: torch.randn(size, runs.spec.num_params) for run in (0, 1)}
    fitness_of = runs._score(params)
    assert set(fitness_of) == {0, 1} and fitness_of[1][2] == (SOLVED_STEPS if fitness == "standard" else 0.9)
    first, second = runs.results
    assert not first.solved and first.evaluations == size and first.checks == 0
    assert second.solved and second.evaluations == size and torch.equal(second.solution, params[1][2])
    assert second.checks == (1 if fitness == "damping" else 0)
    assert played == ([2 * size, 1] if fitness == "damping" else [2 * size])


def test_a_failed_check_does_not_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = PoleRuns("snes-rnn1", "double", "damping", runs=1, max_evaluations=100, compile=False)
    size = METHODS["snes-rnn1"].popsize
    answers = iter([(np.full(size, 0.5), np.full(size, DAMPING_STEPS)), (np.array([5000.0]), np.array([5000]))])
    monkeypatch.setattr(runs, "_play", lambda evaluator, params: next(answers))
    runs._score({0: torch.randn(size, runs.spec.num_params)})
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
