"""python -m evolstm.bench ray-workers runs end to end on a tiny population and writes its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolstm.bench.__main__ import main

pytestmark = pytest.mark.ray


def test_ray_workers_table_and_json(tmp_path: Path, ray_cluster: Path) -> None:
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "ray-workers",
                "--workers",
                "1,2",
                "--popsize",
                "6",
                "--hidden",
                "4",
                "--generations",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = json.loads(out.read_text())
    assert [r["workers"] for r in rows] == [0, 1, 2] and rows[0]["overhead_ms"] is None
    assert all(r["overhead_ms"] is not None for r in rows[1:])
    assert rows[0]["speedup_vs_in_process"] == 1.0 and rows[1]["speedup_vs_1_worker"] == 1.0
