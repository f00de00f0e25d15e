"""python -m evolstm.bench checkpoint runs end to end on a tiny experiment and counts writes right."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from evolstm import config
from evolstm.bench.__main__ import main
from tests.conftest import make_experiment


def test_checkpoint_overhead_table_and_json(tmp_path: Path) -> None:
    experiment = tmp_path / "tiny.yaml"
    experiment.write_text(yaml.safe_dump(config.to_dict(make_experiment(trainer={"generations": 4}))))
    out = tmp_path / "c.json"
    assert main(["checkpoint", "--experiment", str(experiment), "--intervals", "2,3,0", "--repeats", "1",
                 "--out", str(out)]) == 0
    rows = {row["checkpoint_every"]: row for row in json.loads(out.read_text())}
    # at the start, every interval's end, and at exit unless an interval just ended there
    assert rows[2]["writes"] == 3 and rows[3]["writes"] == 3 and rows[0]["writes"] == 2
    assert all(row["generations"] == 4 and 0 <= row["share_of_run_pct"] < 100 for row in rows.values())
    assert rows[0]["wall_vs_interval_0_pct"] == 0.0
