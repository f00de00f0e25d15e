"""python -m evolstm.bench checkpoint runs end to end on a tiny experiment of each trainer and counts writes right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evolstm.bench.__main__ import main
from evolstm.trainers import TRAINERS

#: a four-step trainer section per trainer kind
TRAINER_SECTIONS = {
    "es": {"kind": "es", "algorithm": "snes", "popsize": 4, "episodes": 1, "generations": 4},
    "reinforce": {"kind": "reinforce", "episodes": 4, "iterations": 4},
}


@pytest.mark.parametrize("kind", sorted(TRAINERS))
def test_checkpoint_overhead_table_and_json(kind: str, tmp_path: Path) -> None:
    experiment = tmp_path / "tiny.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "task": {"id": "evolstm/TMaze-v0", "kwargs": {"length": 3}},
                "policy": {"kind": "lstm", "hidden": 4},
                "trainer": TRAINER_SECTIONS[kind],
                "evaluation": {"greedy_every": 0, "final_episodes": 2},
            }
        )
    )
    out = tmp_path / "c.json"
    assert (
        main(
            ["checkpoint", "--experiment", str(experiment), "--intervals", "2,3,0", "--repeats", "1", "--out", str(out)]
        )
        == 0
    )
    rows = {row["checkpoint_every"]: row for row in json.loads(out.read_text())}
    # at the start and at exit, plus at an interval's end unless that write would come too soon after the last one
    # (writes are paced to cost at most ~5% of the run: tests/test_checkpoints.py checks the pacing itself)
    assert 2 <= rows[2]["writes"] <= 3 and 2 <= rows[3]["writes"] <= 3 and rows[0]["writes"] == 2
    assert all(row["steps"] == 4 and row["step_name"] == TRAINERS[kind].STEP for row in rows.values())
    assert all(0 <= row["share_of_run_pct"] < 100 for row in rows.values())
    assert rows[0]["wall_vs_interval_0_pct"] == 0.0
