"""python -m evolstm.compare: runs every experiment and writes one table (md, json) and one figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolstm.compare import main

ROOT = Path(__file__).parent.parent


def test_es_against_reinforce_writes_table_and_figure(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    experiments = [str(ROOT / "experiments" / name) for name in ("tmaze-es.yaml", "tmaze-reinforce.yaml")]
    overrides = ["--set", "trainer.max_env_steps=3000", "--set", "evaluation.final_episodes=4"]
    assert main([*experiments, "--out", str(tmp_path), *overrides]) == 0
    (folder,) = tmp_path.iterdir()
    rows = json.loads((folder / "comparison.json").read_text())
    assert [r["trainer"] for r in rows] == ["es:snes", "reinforce"]
    assert all(r["env_steps"] >= 3000 and r["peak_greedy_return"] is not None for r in rows)
    table = (folder / "comparison.md").read_text()
    assert table.count("\n") == 4 and "tmaze-reinforce" in table
    assert (folder / "comparison.png").read_bytes().startswith(b"\x89PNG")
    assert len(list((folder / "runs").iterdir())) == 2
    assert "comparison written to" in capsys.readouterr().out


def test_a_bad_experiment_stops_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(ROOT / "experiments/tmaze-es.yaml"), str(tmp_path / "absent.yaml"), "--out", str(tmp_path)]) == 2
    assert "cannot read experiment file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
