"""python -m evolstm.bench throughput / scale run end to end on tiny sizes and write their JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolstm.bench.__main__ import main


def test_throughput_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "t.json"
    args = ["throughput", "--task", "evolstm/TMaze-v0", "--kwargs", "{length: 3}", "--popsizes", "4",
            "--hidden", "4", "--repeats", "1", "--out", str(out)]
    assert main(args) == 0
    rows = json.loads(out.read_text())
    paths = [r["path"] for r in rows]
    assert paths[:2] == ["evolstm local", "evolstm batched cpu"] and "evotorch VecGymNE" in paths
    assert all(r["env_steps_per_s"] > 0 and r["threads"] == 1 for r in rows)
    assert rows[1]["vs_bare"] > 0 and rows[1]["vs_evotorch_best"] > 0
    shown = capsys.readouterr().out
    assert "largest |fitness(local) - fitness(batched cpu)| = 0" in shown and "x EvoTorch" in shown


def test_scale_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["scale", "--device", "cpu", "--popsizes", "8,16", "--hidden", "4", "--repeats", "1",
                 "--out", str(out)]) == 0
    assert [r["popsize"] for r in json.loads(out.read_text())] == [8, 16, 8, 16]
