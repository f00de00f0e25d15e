"""python -m evolstm.bench resets: one row per batched task and env count."""

from __future__ import annotations

import json
from pathlib import Path

from evolstm.bench.__main__ import main
from evolstm.tasks import TASK_IDS


def test_resets_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["resets", "--sizes", "4,32", "--repeats", "1", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert sorted((r["task"], r["envs"]) for r in rows) == sorted((t, n) for t in TASK_IDS for n in (4, 32))
    assert all(r["reset_ms"] > 0 and r["ns_per_env"] > 0 and r["threads"] == 1 for r in rows)
