"""Issue 12's hostile and careless inputs (tests/hostile_cases.py), each ending as promised: exit 0 where the input
is fine, else one `error:` line with exit 2 (a mistake in a config, file or argument) or 1 (the env or the Ray
cluster failed), no traceback, and no code run from a received file."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile_cases import CASES, Case

ROOT = Path(__file__).parents[1]


def _isolated(case: Case) -> bool:
    """Cases that must not share this process's Ray connection."""
    return case.name.startswith("ray-")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_ends_as_promised(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as `python -m` run from that folder would import
    argv = case.build(tmp_path)
    if _isolated(case):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
        done = subprocess.run(
            [sys.executable, "-m", *argv], capture_output=True, text=True, env=env, timeout=case.seconds
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        module = importlib.import_module(argv[0])
        entry = module.main if hasattr(module, "main") else importlib.import_module(f"{argv[0]}.__main__").main
        code = entry(argv[1:])
        out, err = capsys.readouterr()
    assert code == case.code, err
    if case.code:
        assert err.startswith("error: ") and err.count("\n") == 1 and case.says in err, err
    assert "Beautiful is better than ugly" not in out and not (tmp_path / "PWNED").exists()
    assert "this" not in sys.modules  # no case may import the module a received file names
