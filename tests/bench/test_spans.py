"""`bench memory`: series of growing corridors from the committed experiments, stopped at the first unsolved length."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolstm.bench import spans
from evolstm.bench.__main__ import main
from evolstm.bench.suites import check, run_series
from evolstm.config import TRAINER_KINDS


def test_every_series_is_a_valid_experiment_per_length() -> None:
    series = spans.series(list(spans.TASKS), list(TRAINER_KINDS), None, spans.BUDGETS, seed=3)
    assert len(series) == len(spans.TASKS) * len(TRAINER_KINDS)
    check([cell for cells in series for cell in cells])  # raises ConfigError on any mistake
    for cells in series:
        task = cells[0].labels["task"]
        assert [cell.labels["length"] for cell in cells] == list(spans.TASKS[task][2])
        assert f"task.kwargs.length={cells[-1].labels['length']}" in cells[-1].overrides


def _row(length: int, best: float, optimum: float = 1.0) -> dict:
    return {
        "task": "passive",
        "trainer": "es",
        "length": length,
        "optimum": optimum,
        "env_steps": 10,
        "seconds": 6.0,
        "final_evaluation": {"best": {"mean_return": best}, "center": {"mean_return": best - 0.5}},
    }


def test_solved_means_99_percent_of_the_optimum_by_the_best_exported_policy() -> None:
    assert spans.solved(_row(10, 0.99)) and not spans.solved(_row(10, 0.989))
    assert spans.solved(_row(10, 3.96, optimum=4.0)) and not spans.solved(_row(10, 3.9, optimum=4.0))


def test_the_table_names_the_longest_length_solved() -> None:
    table = spans.markdown([_row(10, 1.0), _row(30, 1.0), _row(50, 0.5)], "header")
    assert "| passive | es | 30 | 50 |" in table


@pytest.mark.slow
def test_a_series_trains_each_length_and_stops_at_the_first_unsolved(tmp_path: Path) -> None:
    (cells,) = spans.series(["passive"], ["es"], [2, 3], {"es": 2_000}, seed=0)
    rows = run_series([cells], tmp_path, 1, 1, lambda row: False, lambda row: None)
    assert [row["length"] for row in rows] == [2]  # the second length is never tried
    (row,) = rows
    assert row["env_steps"] >= 2_000 and row["curve"] and Path(row["run_dir"]).is_dir()
    assert set(row["final_evaluation"]) == {"best", "center"}


@pytest.mark.slow
def test_the_command_writes_a_table_a_figure_and_json(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    argv = ["memory", "--tasks", "passive", "--trainers", "es", "--lengths", "2", "--budget", "es=2000", "--jobs", "1"]
    assert main([*argv, "--runs-dir", str(tmp_path / "runs"), "--out", str(out)]) == 0
    assert out.exists() and out.with_suffix(".png").exists()
    assert "| passive | es |" in out.with_suffix(".md").read_text()
