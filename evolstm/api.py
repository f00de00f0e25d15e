"""The Python API: `train` an experiment (a YAML path, a dict or an Experiment, plus overrides) and get a `RunHandle`
back; `load_run` opens an existing run directory; `load_policy` gives an `Agent` for one's own Gymnasium loop."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolstm import config
from evolstm.agent import Agent
from evolstm.config import Experiment
from evolstm.replay.source import resolve
from evolstm.runs import default_out_root, read_metrics
from evolstm.training import Callback
from evolstm.training import train as train_run

if TYPE_CHECKING:
    import pandas

#: what `load_policy` picks from a run when `which` is not given: ES's search center, REINFORCE's final policy
DEFAULT_POLICIES = ("center", "final", "best")
Overrides = Mapping[str, Any] | Sequence[str]


@dataclass(frozen=True)
class RunHandle:
    """A run directory, read back: its summary, config, metrics rows and exported policies."""

    path: Path

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json: budget spent, wall time, why it stopped, the final evaluation of each exported policy."""
        return json.loads((self.path / "summary.json").read_text())

    @property
    def experiment(self) -> Experiment:
        """The resolved experiment the run trained (its config.yaml)."""
        return config.load(self.path / "config.yaml")

    @property
    def policies(self) -> dict[str, Path]:
        """The exported policy files by name (ES: center, best; REINFORCE: final, best)."""
        return {path.stem: path for path in sorted((self.path / "policies").glob("*.safetensors"))}

    def metrics(self) -> list[dict[str, Any]]:
        """The metrics rows (one per generation or iteration), as written to metrics.jsonl."""
        return read_metrics(self.path)

    def metrics_frame(self) -> pandas.DataFrame:
        """The metrics rows as a pandas DataFrame (pandas is not a dependency of evolstm: install it to use this)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("metrics_frame needs pandas (pip install pandas); metrics() gives the rows") from None
        return pandas.DataFrame(self.metrics())

    def load_policy(self, which: str | None = None) -> Agent:
        """An exported policy as an Agent (default: the center for ES, the final policy for REINFORCE)."""
        return load_policy(self.path, which)


def train(
    experiment: str | Path | Mapping[str, Any] | Experiment,
    overrides: Overrides = (),
    out: str | Path | None = None,
    callback: Callback | None = None,
    quiet: bool = False,
) -> RunHandle:
    """Train an experiment to its end and return its run. `overrides` are `--set` strings ("trainer.popsize=32") or a
    mapping of dotted keys to values; `callback(row)` sees each metrics row and stops the run by returning False;
    runs go under `out` (default: as `python -m evolstm.run`). Raises ConfigError for a mistake in the experiment."""
    resolved = _experiment(experiment, _assignments(overrides))
    return RunHandle(
        train_run(resolved, Path(out) if out is not None else default_out_root(), quiet=quiet, callback=callback).path
    )


def load_run(path: str | Path) -> RunHandle:
    """An existing run directory."""
    run = Path(path)
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run directory (no config.yaml)")
    return RunHandle(run)


def load_policy(source: str | Path | RunHandle, which: str | None = None, task: str | None = None) -> Agent:
    """An Agent from a run directory (or handle) and an exported policy's name, or from a policy file; `task` plays a
    policy file in that task id (one you trust: a `module:Env` id imports the module). ValueError (ReplayError) for
    a missing run, policy or file, a corrupt file, or a policy that does not fit its task."""
    path = source.path if isinstance(source, RunHandle) else Path(source)
    if path.is_dir():
        if task is not None:
            raise ValueError(f"task= is for a policy file on its own; {path} plays the task of its config.yaml")
        if which is None:
            exported = load_run(path).policies
            which = next((name for name in DEFAULT_POLICIES if name in exported), "center")
    elif which is not None:
        raise ValueError(f"which= names an exported policy of a run directory; {path} is not a directory")
    found = resolve(path, which or "center", task)
    return Agent(found.policy, found.task, found.name)


def _assignments(overrides: Overrides) -> tuple[str, ...]:
    """Overrides as `key.path=value` strings (a mapping's values written as JSON, which the YAML loader reads back)."""
    if isinstance(overrides, Mapping):
        return tuple(f"{key}={json.dumps(value)}" for key, value in overrides.items())
    if isinstance(overrides, str):
        return (overrides,)
    return tuple(overrides)


def _experiment(experiment: str | Path | Mapping[str, Any] | Experiment, overrides: tuple[str, ...]) -> Experiment:
    if isinstance(experiment, Experiment):
        return config.from_dict(config.to_dict(experiment), overrides)
    if isinstance(experiment, Mapping):
        return config.from_dict(dict(experiment), overrides)
    return config.load(experiment, overrides)
