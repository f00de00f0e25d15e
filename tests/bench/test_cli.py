"""The bench command line: outputs named after their command, user mistakes in one line, bugs with a traceback."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from evolstm.bench import populations
from evolstm.bench.__main__ import COMMANDS, build_parser, main

#: per command, arguments with a mistake a user could make (the commands cannot start, so these tests are instant)
MISTAKES = {
    "throughput": ["--task", "evolstm/Nope-v0"],
    "populations": ["--device", "cpu", "--popsizes", "8,0"],
    "resets": ["--sizes", "0"],
    "startup": ["--experiments", "experiments/nope.yaml"],
    "ray-workers": ["--workers", "1,x"],
    "checkpoint": ["--experiment", "no-such-experiment.yaml"],
    "poles": ["--methods", "snes-rnn1,hill-climbing"],
    "memory": ["--budget", "es=lots"],
    "popgym": ["--envs", "RepeatFirst,Nope"],
}


def exit_code(argv: list[str]) -> int:
    """main's return value, or the code it exits with (argparse's errors)."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code)


@pytest.mark.parametrize("name", COMMANDS)
def test_default_out_is_named_after_the_command(name: str) -> None:
    assert build_parser().parse_args([name]).out == Path(f"bench-results/{name}.json")


def _shown(default: object) -> str | None:
    """How an option's default must read in its help's "(default: ...)", or None where only words can say it."""
    if isinstance(default, bool):
        return "off" if default is False else "on"
    if isinstance(default, list):
        return ",".join(map(str, default))
    if default is None or isinstance(default, dict):
        return None  # computed or per-key defaults (e.g. --popsizes by device, --budget per trainer)
    return str(default)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_that_shows_its_default(name: str) -> None:
    """Introspects the subcommand's parser (nothing runs): each option's help ends with "(default: ...)" that
    holds the option's actual default, so `--help` tells the truth about what a bare command does."""
    (commands,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    sub = commands.choices[name]
    options = [a for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    assert options
    for action in options:
        flag = action.option_strings[-1]
        assert action.help and action.help.strip(), f"{name} {flag}: no help"
        text = sub._get_formatter()._expand_help(action)
        assert "(default: " in text and text.endswith(")"), f"{name} {flag}: no (default: ...) in {text!r}"
        clause = text[text.rindex("(default: ") + len("(default: ") : -1]
        words = [word.rstrip(",;:") for word in clause.split()]
        expected = _shown(action.default)
        assert clause.strip() and (expected is None or expected in words), f"{name} {flag}: {clause!r} != {expected}"


@pytest.mark.parametrize("name", COMMANDS)
def test_a_user_mistake_is_one_line(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert exit_code([name, *MISTAKES[name], "--out", str(tmp_path / "new" / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "new").exists()  # nothing made for a run that never started


@pytest.mark.parametrize("narrow", ["-16", "8", "x"])
def test_poles_narrow_rows_must_be_a_multiple_of_16(narrow: str, capsys: pytest.CaptureFixture) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):  # refused while parsing: the benchmark never starts
        parser.parse_args(["poles", "--narrow", narrow])
    assert "--narrow" in capsys.readouterr().err
    assert parser.parse_args(["poles", "--narrow", "32"]).narrow == 32


def test_an_unwritable_out_fails_before_the_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert exit_code(["checkpoint", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out {tmp_path}: ")


def test_a_bug_shows_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> float:
        """Stands in for a broken `agreement`."""
        raise ValueError("a bug in evolstm")  # ValueError, the base of ConfigError, must not read as a user mistake

    monkeypatch.setattr(populations, "agreement", broken)
    with pytest.raises(ValueError, match="a bug in evolstm"):
        main(["throughput", "--no-evotorch", "--out", str(tmp_path / "t.json")])
