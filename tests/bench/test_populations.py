"""python -m evolstm.bench populations runs on the CPU: its agreement check prints exactly 0.0 for every task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolstm.bench.__main__ import DEFAULT_TASKS, main
from tests.bench.output import agreement_differences


def test_populations_on_cpu(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "p.json"
    assert (
        main(
            [
                "populations",
                "--device",
                "cpu",
                "--popsizes",
                "8,16",
                "--agreement-popsize",
                "8",
                "--hidden",
                "4",
                "--repeats",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = json.loads(out.read_text())
    assert [(r["task"], r["popsize"]) for r in rows] == [(t["id"], p) for t in DEFAULT_TASKS for p in (8, 16)]
    assert all(r["path"] == "evolstm batched cpu" and r["env_steps_per_s"] > 0 for r in rows)
    differences = agreement_differences(capsys.readouterr().out)
    assert differences == {task["id"]: 0.0 for task in DEFAULT_TASKS}
