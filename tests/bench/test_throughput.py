"""python -m evolstm.bench throughput runs end to end on tiny sizes, agrees exactly with the local path, writes JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolstm.bench.__main__ import main
from tests.bench.output import agreement_differences


def test_throughput_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "t.json"
    args = [
        "throughput",
        "--task",
        "evolstm/TMaze-v0",
        "--kwargs",
        "{length: 3}",
        "--popsizes",
        "4",
        "--hidden",
        "4",
        "--repeats",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    rows = json.loads(out.read_text())
    paths = [r["path"] for r in rows]
    assert paths[:2] == ["evolstm local", "evolstm batched cpu"] and "evotorch VecGymNE" in paths
    assert all(r["env_steps_per_s"] > 0 and r["threads"] == 1 for r in rows)
    assert rows[1]["vs_bare"] > 0 and rows[1]["vs_evotorch_best"] > 0
    shown = capsys.readouterr().out
    assert agreement_differences(shown) == {"evolstm/TMaze-v0": 0.0} and "x EvoTorch" in shown
