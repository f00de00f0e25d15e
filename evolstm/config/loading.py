"""Reading an experiment: YAML file or mapping, `--set key.path=value` overrides, validation into one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from evolstm.config.schema import TRAINER_KINDS, ConfigError, Experiment

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


def _set_path(data: dict[str, Any], assignment: str) -> None:
    """Apply one `key.path=value` override; the value is parsed as YAML (so 3 is an int, true a bool)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected key.path=value")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    try:
        node[leaf] = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({str(err).splitlines()[0]})") from None


def from_dict(data: Any, overrides: tuple[str, ...] = ()) -> Experiment:
    """Validate a plain mapping (plus overrides) into an Experiment, raising ConfigError on any mistake."""
    if not isinstance(data, dict):
        raise ConfigError("the experiment must be a YAML mapping of sections (name, task, policy, trainer, ...)")
    for assignment in overrides:
        _set_path(data, assignment)
    _check_moved(data)
    try:
        return Experiment.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err)) from None


def load(path: str | Path, overrides: tuple[str, ...] = ()) -> Experiment:
    """Read an experiment YAML file, apply `--set` overrides and validate it."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read experiment file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    return from_dict(data, overrides)


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
