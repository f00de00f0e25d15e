"""Property-based tests over malformed experiments: every mutation of a valid config, every --set override and any
YAML text either validates or gives one ConfigError line, and the CLI answers each invalid one with exit code 2 and
one line on stderr, without creating a run directory; never a traceback."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evolstm import config
from evolstm.config import ConfigError
from evolstm.run import main
from tests.conftest import make_experiment

VALID = config.to_dict(make_experiment())
REINFORCE = config.to_dict(make_experiment(trainer={"kind": "reinforce", "episodes": 4, "iterations": 2}))
TEXT = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), max_size=8)  # no module:Env ids
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=True) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=5,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _paths(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a config, sections included."""
    out = []
    for key, value in tree.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out.extend(_paths(value, (*prefix, key)))
    return out


KEYS = [".".join(path) for path in _paths(VALID)] + ["nope", "trainer.nope", "task.kwargs.x"]


@st.composite
def malformed(draw: st.DrawFn) -> dict[str, Any]:
    """A valid config with one to three edits: a value replaced, a key deleted, or an unknown key added."""
    data = copy.deepcopy(draw(st.sampled_from([VALID, REINFORCE])))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data) or [("name",)]))
        *parents, leaf = path
        node = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        edit = draw(st.sampled_from(["replace", "delete", "unknown"]))
        if edit == "replace":
            node[leaf] = draw(VALUES)
        elif edit == "delete":
            node.pop(leaf, None)
        else:
            node[draw(TEXT.filter(lambda key: key not in node)) or "zz"] = draw(VALUES)
    return data


def _validates_or_one_line(data: Any, overrides: tuple[str, ...] = ()) -> bool:
    """True if valid; False after checking the ConfigError is one line (any other exception fails the test)."""
    try:
        config.from_dict(copy.deepcopy(data), overrides)
        return True
    except ConfigError as err:
        assert str(err) and "\n" not in str(err)
        return False


def _cli_refuses(text: str, capsys: pytest.CaptureFixture, overrides: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "experiment.yaml"
        path.write_text(text)
        args = [str(path), "--out", str(Path(folder) / "runs")] + [a for o in overrides for a in ("--set", o)]
        try:
            code = main(args)
        except SystemExit as stop:  # argparse's own mistakes (e.g. --set -x), also one line
            code = stop.code
        assert code == 2
        assert not (Path(folder) / "runs").exists()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err


@FUZZ
@given(data=malformed())
def test_mutated_configs(data: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    if not _validates_or_one_line(data):
        _cli_refuses(yaml.safe_dump(data), capsys)


@FUZZ
@given(
    overrides=st.lists(
        st.text(max_size=20)
        | st.sampled_from(["-x", "--set", "=", "a.b=[", "seed"])
        | st.builds("{}={}".format, st.sampled_from(KEYS), TEXT),
        min_size=1,
        max_size=3,
    )
)
def test_set_overrides(overrides: list[str], capsys: pytest.CaptureFixture) -> None:
    overrides = [o for o in overrides if "\x00" not in o]
    if overrides and not _validates_or_one_line(VALID, tuple(overrides)):
        _cli_refuses(yaml.safe_dump(VALID), capsys, tuple(overrides))


@FUZZ
@given(text=st.text(max_size=60))
def test_arbitrary_yaml_text(text: str, capsys: pytest.CaptureFixture) -> None:
    _cli_refuses(text, capsys)
