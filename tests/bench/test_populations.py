"""python -m evolstm.bench populations (the GPU script) runs end to end on the CPU, where its agreement check prints
exactly 0.0 for every task; on CUDA (where there is one) it runs with the compiled path too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from evolstm.bench.__main__ import DEFAULT_TASKS, main
from tests.bench.output import agreement_differences, identical_shares


def _run(device: str, out: Path, *extra: str) -> list[dict]:
    args = ["populations", "--device", device, "--popsizes", "8,16", "--episodes", "2", "--agreement-popsize", "8"]
    assert main([*args, "--hidden", "4", "--repeats", "1", "--out", str(out), *extra]) == 0
    return json.loads(out.read_text())


def test_populations_on_cpu(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = _run("cpu", tmp_path / "p.json")
    assert [(r["task"], r["popsize"], r["envs"]) for r in rows] == [
        (t["id"], p, 2 * p) for t in DEFAULT_TASKS for p in (8, 16)
    ]
    assert all(r["path"] == "evolstm batched cpu" and r["env_steps_per_s"] > 0 and r["peak_mb"] >= 0 for r in rows)
    differences = agreement_differences(capsys.readouterr().out)
    assert differences == {task["id"]: 0.0 for task in DEFAULT_TASKS}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the GPU script's cuda path cannot run")
def test_populations_on_cuda(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """CUDA's float32 matmuls and cos/sin may round differently from the CPU's: most returns identical, not all."""
    rows = _run("cuda", tmp_path / "p.json", "--compile")
    assert {r["path"] for r in rows} == {"evolstm batched cuda", "evolstm compiled cuda"}
    assert all(r["env_steps_per_s"] > 0 and r["peak_mb"] > 0 for r in rows)
    shares = identical_shares(capsys.readouterr().out)
    assert len(shares) == 2 * len(DEFAULT_TASKS) and min(shares.values()) >= 0.9, shares
