"""Property-based tests over malformed experiments: every mutation of a valid config, every --set override, any YAML
text and generated experiment files (scientific-notation numbers, duplicate keys, anchors and aliases, deep nesting)
either validate or give one ConfigError line, and the CLI answers each invalid one with exit code 2 and one line on
stderr, without creating a run directory; never a traceback. The profile (tests/conftest.py) sets the example count."""

from __future__ import annotations

import copy
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from evolstm import config
from evolstm.config import ConfigError
from evolstm.config.yaml_io import MAX_DEPTH, dump
from evolstm.run import main
from tests.conftest import make_experiment

pytestmark = pytest.mark.properties

VALID = config.to_dict(make_experiment())
REINFORCE = config.to_dict(make_experiment(trainer={"kind": "reinforce", "episodes": 4, "iterations": 2}))
TEXT = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), max_size=8)  # no module:Env ids
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=True) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=5,
)


def _paths(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a config, sections included."""
    out = []
    for key, value in tree.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out.extend(_paths(value, (*prefix, key)))
    return out


KEYS = [".".join(path) for path in _paths(VALID)] + ["nope", "trainer.nope", "task.kwargs.x", "task.kwargs"]


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
            node[draw(TEXT.filter(lambda key, node=node: key not in node)) or "zz"] = draw(VALUES)
    return data


#: numbers in scientific notation as people write them (3e-3, 1E5, -2e+4, .5e1, 1.e2, 1_000e-2)
SCIENTIFIC = st.builds(
    "{}{}{}{}{}".format,
    st.sampled_from(["", "-", "+"]),
    st.sampled_from(["0", "1", "3", "12", "1_000", "2.5", ".5", "1.", "0.001"]),
    st.sampled_from(["e", "E"]),
    st.sampled_from(["", "-", "+"]),
    st.integers(0, 400).map(str),
)
WORDS = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True).filter(
    lambda w: w not in {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}
)


@dataclass
class Doc:
    """Generated YAML in flow style: its text, the value a YAML 1.2 reader gives, and what makes it refusable."""

    text: str
    value: Any = None
    depth: int = 0  # nesting of mappings and lists
    anchors: bool = False
    duplicates: bool = False
    children: list[Doc] = field(default_factory=list)

    def flags(self, attr: str) -> bool:
        """Whether this document or one inside it has the flag."""
        return getattr(self, attr) or any(child.flags(attr) for child in self.children)


SCALARS = st.one_of(
    SCIENTIFIC.map(lambda t: Doc(t, float(t.replace("_", "")))),
    SCIENTIFIC.map(lambda t: Doc(t + "x", t + "x")),  # not a number: stays text
    st.integers(-(10**9), 10**9).map(lambda n: Doc(str(n), n)),
    WORDS.map(lambda w: Doc(w, w)),
    SCIENTIFIC.map(lambda t: Doc(f"'{t}'", t)),  # quoted: text
    st.sampled_from([Doc(".inf", math.inf), Doc("-.inf", -math.inf), Doc("null"), Doc("true", True)]),
)
KEY_DOCS = SCALARS | st.sampled_from(
    [Doc("a", "a"), Doc("b", "b"), Doc("kind", "kind")]  # a small pool, so duplicates happen
)


def _mapping(pairs: list[tuple[Doc, Doc]]) -> Doc:
    value: dict[Any, Any] = {}
    duplicates = False
    for key, item in pairs:
        duplicates |= key.value in value
        value[key.value] = item.value
    text = "{" + ", ".join(f"{key.text}: {item.text}" for key, item in pairs) + "}"
    depth = 1 + max((item.depth for _, item in pairs), default=0)
    return Doc(text, value, depth, duplicates=duplicates, children=[item for _, item in pairs])


def _sequence(items: list[Doc]) -> Doc:
    text = "[" + ", ".join(item.text for item in items) + "]"
    return Doc(text, [item.value for item in items], 1 + max((i.depth for i in items), default=0), children=items)


def _nested(doc: Doc, levels: int) -> Doc:
    for _ in range(levels):
        doc = _sequence([doc])
    return doc


def _extend(inner: st.SearchStrategy[Doc]) -> st.SearchStrategy[Doc]:
    """Lists and mappings of `inner`; one time in ten an anchor, an alias or nesting near MAX_DEPTH instead."""
    collections = st.lists(inner, max_size=3).map(_sequence) | st.lists(st.tuples(KEY_DOCS, inner), max_size=3).map(
        _mapping
    )
    risky = st.tuples(inner, st.sampled_from(["&x ", "*x"])).map(
        lambda pair: Doc(pair[1] + (pair[0].text if pair[1] == "&x " else ""), None, pair[0].depth, anchors=True)
    ) | st.tuples(inner, st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3)).map(lambda pair: _nested(*pair))
    return st.integers(0, 9).flatmap(lambda n: risky if n == 0 else collections)


DOCS = st.recursive(SCALARS, _extend, max_leaves=6)
#: what task.kwargs usually is: a mapping with names for keys
KWARGS = st.lists(st.tuples(WORDS.map(lambda w: Doc(w, w)) | KEY_DOCS, DOCS), max_size=4).map(_mapping)


def _typed(value: Any) -> Any:
    """The value with each scalar's type beside it (so 1 and 1.0, or "1e3" and 1000.0, differ; NaN equals NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if isinstance(value, dict):
        return {_typed(key): _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


def _refusals(doc: Doc, outer_depth: int) -> tuple[str, ...]:
    """The refusals a document may get (empty: none): anchors or depth, whichever the composer meets first in the
    text; duplicate keys only without those (the constructor runs after the composer)."""
    composer = (("anchors and aliases (&name, *name) are not supported",) if doc.flags("anchors") else ()) + (
        (f"nested deeper than {MAX_DEPTH} levels",) if doc.depth + outer_depth > MAX_DEPTH else ()
    )
    return composer or (("duplicate key",) if doc.flags("duplicates") else ())


def _validates_or_one_line(data: Any, overrides: tuple[str, ...] = ()) -> bool:
    """True if valid; False after checking the ConfigError is one line (any other exception fails the test)."""
    try:
        config.from_dict(copy.deepcopy(data), overrides)
        return True
    except ConfigError as err:
        assert str(err) and "\n" not in str(err)
        return False


def _load_or_one_line(text: str) -> tuple[config.Experiment | None, str]:
    """The experiment in a file of this text, or None and its one-line ConfigError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "experiment.yaml"
        path.write_text(text)
        try:
            return config.load(path), ""
        except ConfigError as err:
            assert str(err) and "\n" not in str(err)
            return None, str(err)


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


@given(data=malformed())
def test_mutated_configs(data: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    if not _validates_or_one_line(data):
        _cli_refuses(dump(data), capsys)


@given(
    overrides=st.lists(
        st.text(max_size=20)
        | st.sampled_from(["-x", "--set", "=", "a.b=[", "seed", ".".join(["a"] * 40) + "=1"])
        | st.builds("{}={}".format, st.sampled_from(KEYS), TEXT | DOCS.map(lambda doc: doc.text)),
        min_size=1,
        max_size=3,
    )
)
def test_set_overrides(overrides: list[str], capsys: pytest.CaptureFixture) -> None:
    overrides = [o for o in overrides if "\x00" not in o]
    if overrides and not _validates_or_one_line(VALID, tuple(overrides)):
        _cli_refuses(dump(VALID), capsys, tuple(overrides))


@given(doc=DOCS, key=st.sampled_from(["task.kwargs", "trainer.stop_at", "policy.hidden", "trainer.options"]))
def test_set_values_read_like_files(doc: Doc, key: str) -> None:
    """A --set value is read by the same rules as a file: numbers, refusals, and the value itself. (The value is
    parsed on its own before it is put at its key, so a duplicate key in it can be met before the total depth.)"""
    refusals = _refusals(doc, outer_depth=key.count(".") + 1)
    if refusals and doc.flags("duplicates"):
        refusals += ("duplicate key",)
    try:
        config.from_dict(copy.deepcopy(VALID), (f"{key}={doc.text}",))
    except ConfigError as err:
        assert "\n" not in str(err)
        assert not refusals or any(refusal in str(err) for refusal in refusals), (refusals, str(err))
        return
    assert not refusals


@given(
    doc=KWARGS | DOCS,
    stop_at=SCIENTIFIC,
    repeat=st.sampled_from(["", "name: again\n", "seed: 1\nseed: 1\n"]),
)
def test_generated_files(doc: Doc, stop_at: str, repeat: str, capsys: pytest.CaptureFixture) -> None:
    """An experiment file whose task.kwargs is a generated document (its mapping is level 3 of the experiment)."""
    text = (
        f"name: x\ntask: {{id: evolstm/TMaze-v0, kwargs: {doc.text}}}\n"
        f"trainer: {{kind: es, generations: 1, stop_at: {stop_at}}}\n{repeat}"
    )
    experiment, error = _load_or_one_line(text)
    refusals = _refusals(doc, outer_depth=2) or (("duplicate key",) if repeat else ())
    event("loaded" if experiment else f"refused: {refusals[0] if refusals else error.split(':')[1].strip()}")
    if refusals:
        assert experiment is None and any(refusal in error for refusal in refusals), (refusals, error)
    elif isinstance(doc.value, dict) and all(isinstance(key, str) for key in doc.value) and abs(float(stop_at)) < 1e308:
        assert experiment is not None, error
        assert _typed(experiment.task.kwargs) == _typed(doc.value)
        assert experiment.trainer.stop_at == float(stop_at.replace("_", ""))
    if experiment is None:
        _cli_refuses(text, capsys)


@given(text=st.text(max_size=60))
def test_arbitrary_yaml_text(text: str, capsys: pytest.CaptureFixture) -> None:
    _cli_refuses(text, capsys)


@given(value=VALUES | SCIENTIFIC)
def test_dumped_values_read_back(value: Any) -> None:
    """What evolstm writes as YAML (a run's config) reads back as the same data, strings like "1e3" included."""
    data = {"name": "x", "task": {"id": "evolstm/TMaze-v0", "kwargs": {"v": value}}, "trainer": {"kind": "es"}}
    experiment, error = _load_or_one_line(dump(data))
    assert experiment is not None, error
    assert _typed(experiment.task.kwargs["v"]) == _typed(value)
