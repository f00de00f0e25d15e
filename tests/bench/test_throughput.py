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
    assert paths == [
        "evolstm local",
        "evolstm batched cpu",
        "bare step cpu",
        "evolstm compiled cpu",
        "evotorch GymNE",
        "evotorch VecGymNE",
        "evotorch VecGymNE + evolstm env",
        "evox OpenES evaluate",
        "evox OpenES workflow.step",
    ]
    assert all(r["env_steps_per_s"] > 0 and r["threads"] == 1 for r in rows)
    timed = [r for r in rows if not r["path"].startswith("bare")]
    assert all(r["kb_per_member"] >= 0 and r["vs_evotorch_best"] > 0 and r["vs_evox"] > 0 for r in timed)
    assert rows[1]["vs_bare"] > 0 and rows[3]["vs_eager"] > 0
    local, batched, compiled = (rows[i]["env_steps"] for i in (0, 1, 3))
    assert local == batched  # the same population and episodes: the same real env steps
    assert abs(compiled - batched) <= 0.05 * batched
    shown = capsys.readouterr().out
    assert agreement_differences(shown) == {"evolstm/TMaze-v0": 0.0} and "x EvoTorch" in shown
    assert "evox 1." in shown and "torch 2." in shown
    table = out.with_suffix(".md").read_text()
    assert "| TMaze-v0 | 4 |" in table and "eager / EvoX evaluate" in table


def test_peers_up_to_skips_the_python_loops(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    args = ["throughput", "--task", "evolstm/TMaze-v0", "--kwargs", "{length: 3}", "--popsizes", "2,5"]
    args += ["--hidden", "4", "--repeats", "1", "--peers-up-to", "2", "--no-compile", "--no-evox", "--out", str(out)]
    assert main(args) == 0
    rows = json.loads(out.read_text())
    big = {r["path"] for r in rows if r["popsize"] == 5}
    assert big == {"evolstm batched cpu", "bare step cpu", "evotorch VecGymNE + evolstm env"}
