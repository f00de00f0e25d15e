"""Reading an experiment: YAML file or mapping, `--set key.path=value` overrides, validation into one-line errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evolstm.config.schema import TRAINER_KINDS, ConfigError, Experiment
from evolstm.config.yaml_io import MAX_DEPTH, MAX_FILE_BYTES, YAMLRefused, parse

#: keys of earlier versions -> where that setting lives now (an old key is an error that says so)
MOVED = {
    ("evaluation", "episodes"): "ES episodes per member are trainer.episodes; greedy-evaluation episodes are "
    "evaluation.greedy_episodes",
    ("evaluation", "common_random_numbers"): "it is trainer.common_random_numbers (ES)",
    ("evaluation", "center_every"): "it is evaluation.greedy_every",
    ("evaluation", "center_episodes"): "it is evaluation.greedy_episodes",
}


def _check_moved(data: dict[str, Any]) -> None:
    """ConfigError for the first key that has moved to another section or name."""
    for (section, key), where in MOVED.items():
        if isinstance(data.get(section), dict) and key in data[section]:
            raise ConfigError(f"{section}.{key}: this key has moved: {where}")


def _format(err: ValidationError) -> str:
    """First validation error as `key.path: message`."""
    first = err.errors(include_url=False)[0]
    loc = list(first["loc"])
    if loc[:1] == ["trainer"] and len(loc) > 1 and loc[1] in TRAINER_KINDS:
        del loc[1]  # the discriminator's tag is not a key the user wrote
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append("kind")
        msg = f"must be one of {', '.join(TRAINER_KINDS)}"
    path = ".".join(str(p) for p in loc) or "<experiment>"
    return " ".join(f"{path}: {msg}".split())  # one line, whatever a validator's message holds


def _parse(text: str, where: str) -> Any:
    """The data in YAML text, or ConfigError `where: reason` in one line."""
    try:
        return parse(text)
    except YAMLRefused as err:
        raise ConfigError(f"{where}: {err}") from None
    except Exception as err:  # YAMLError, or the ValueError/IndexError/KeyError of a malformed tagged scalar
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{where}: not valid YAML ({first})") from err


def _check_depth(node: Any, path: tuple[str, ...] = (), depth: int = 1) -> None:
    """ConfigError if mappings and lists nest deeper than MAX_DEPTH (e.g. a long --set key path); a cycle is too."""
    if not isinstance(node, (dict, list)):
        return
    if depth > MAX_DEPTH:
        where = ".".join(path[:3]) + ("..." if len(path) > 3 else "")
        raise ConfigError(f"{where}: nested deeper than {MAX_DEPTH} levels (the limit for experiments)")
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        _check_depth(value, (*path, str(key)), depth + 1)


def _set_path(data: dict[str, Any], assignment: str) -> None:
    """Apply one `key.path=value` override; the value is parsed as experiment YAML (so 3 is an int, 1e-3 a float)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected key.path=value")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    node[leaf] = _parse(raw, f"--set {key}")


def from_dict(data: Any, overrides: tuple[str, ...] = ()) -> Experiment:
    """Validate a plain mapping (plus overrides) into an Experiment, raising ConfigError on any mistake."""
    if not isinstance(data, dict):
        raise ConfigError("the experiment must be a YAML mapping of sections (name, task, policy, trainer, ...)")
    for assignment in overrides:
        _set_path(data, assignment)
    _check_depth(data)
    _check_moved(data)
    try:
        return Experiment.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err)) from None


def read_text(path: Path) -> str:
    """The text of an experiment file: a regular file (a FIFO or device such as /dev/zero is refused unread) of at
    most MAX_FILE_BYTES, in UTF-8."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO must not wait for a writer
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(f"{path}: not a regular file; experiments are read from regular files only")
            content = file.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read experiment file ({err.strerror or err})") from None
    if len(content) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB, the limit for experiment files")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file") from None


def load(path: str | Path, overrides: tuple[str, ...] = ()) -> Experiment:
    """Read an experiment YAML file, apply `--set` overrides and validate it."""
    path = Path(path)
    return from_dict(_parse(read_text(path), str(path)), overrides)


def to_dict(experiment: Experiment) -> dict[str, Any]:
    """The fully resolved experiment (defaults filled in), as plain data for the run directory."""
    return experiment.model_dump(mode="json")


def flat_fields(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as one level of dotted keys, e.g. {"trainer.popsize": 32} (empty sections stay as values)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flat_fields(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
