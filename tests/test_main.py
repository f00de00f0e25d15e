"""`evolstm COMMAND ...` (the console command, also `python -m evolstm`) reaches each tool with its own arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evolstm.__main__ import COMMANDS, main


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_reaches_its_tool(command: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    module = COMMANDS[command][0].removesuffix(".__main__")
    assert f"python -m {module}" in capsys.readouterr().out  # that tool's own usage


def test_a_tool_keeps_its_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["plot", str(tmp_path / "no-such-run")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_no_or_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 2 and "commands:" in capsys.readouterr().out
    assert main(["--help"]) == 0
    shown = capsys.readouterr().out
    assert all(f"  {name} " in shown for name in COMMANDS)
    assert main(["train"]) == 2
    assert capsys.readouterr().err == (
        "error: unknown command 'train'; commands: run, replay, compare, plot, bench (see evolstm --help)\n"
    )


def test_python_dash_m_evolstm_runs_the_same_dispatch() -> None:
    done = subprocess.run([sys.executable, "-m", "evolstm", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage: evolstm COMMAND" in done.stdout
