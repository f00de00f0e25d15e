"""python -m evolstm.bench scaling runs end to end on a tiny population and writes its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolstm.bench.__main__ import main

pytestmark = pytest.mark.ray


def test_scaling_table_and_json(tmp_path: Path, ray_cluster: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["scaling", "--workers", "1,2", "--popsize", "6", "--hidden", "4", "--generations", "1",
                 "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["workers"] for r in rows] == [0, 1, 2]
    assert rows[1]["overhead_ms"] is not None and rows[0]["speedup_vs_in_process"] == 1.0
