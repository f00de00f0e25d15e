"""Resuming a run: which config changes a resume may make, and loading the run and checkpoint to continue from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolstm import config
from evolstm.checkpoints import CheckpointError, check_run_state, load_checkpoint
from evolstm.config import ConfigError, Experiment
from evolstm.runs import RunDir, RunLock

#: Fields a resume may change with --allow-change: the budget and where/how verbosely the run runs. Everything else
#: (task, policy, trainer settings, seeds, episodes, backend, threads) would make the continued run a different one.
SAFE_TO_CHANGE = (
    "trainer.generations",
    "trainer.iterations",
    "trainer.max_env_steps",
    "trainer.stop_at",
    "log_every",
    "checkpoint_every",
    "checkpoint_seconds",
    "ray.address",
    "ray.num_cpus",
    "ray.include_dashboard",
    "tracking.tensorboard",  # a tracker switched on at a resume first gets the rows it lacks (evolstm.tracking)
    "tracking.mlflow",
    "tracking.mlflow.uri",
    "tracking.mlflow.experiment",
)


@dataclass
class Resume:
    """A run to continue: its directory, the lock this process holds on it, and the checkpoint state loaded then."""

    run: RunDir
    lock: RunLock
    state: dict[str, Any]


def config_changes(stored: Experiment, new: Experiment | dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields whose value differs: dotted path -> (stored, new). `new` may be a config as plain data (a checkpoint's,
    compared without validating it, since validating could import a module its task id names)."""
    old_flat = config.flat_fields(config.to_dict(stored))
    new_flat = config.flat_fields(new if isinstance(new, dict) else config.to_dict(new))
    keys = dict.fromkeys([*old_flat, *new_flat])
    return {key: (old_flat.get(key), new_flat.get(key)) for key in keys if old_flat.get(key) != new_flat.get(key)}


def unsafe_changes(changes: dict[str, tuple[Any, Any]]) -> list[str]:
    """The changed fields that would make the continued run a different one."""
    return [key for key in changes if key not in SAFE_TO_CHANGE]


def check_changes(stored: Experiment, new: Experiment, allow: bool) -> None:
    """ConfigError naming the changed fields unless all are safe and `allow` is set."""
    changes = config_changes(stored, new)
    if not changes:
        return
    listed = ", ".join(f"{key} ({old!r} -> {new!r})" for key, (old, new) in changes.items())
    unsafe = unsafe_changes(changes)
    if unsafe:
        raise ConfigError(
            f"cannot resume with a changed config: {listed}; {', '.join(unsafe)} cannot change on resume "
            f"(only the budget, log/checkpoint intervals and the Ray address/size may)"
        )
    if not allow:
        raise ConfigError(f"the config differs from the run's: {listed}; pass --allow-change to resume with it")


def resume_target(
    run_dir: Path, experiment: Path | None, overrides: tuple[str, ...], allow_change: bool
) -> tuple[Experiment, Resume]:
    """The config to continue with (the run's own, or `experiment` and `overrides` if given) and the loaded
    checkpoint; ConfigError or CheckpointError for a user mistake."""
    run = RunDir(run_dir)
    if not run.config_path.is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.yaml)")
    stored = config.load(run.config_path)
    source = experiment or run.config_path
    new = config.load(source, overrides) if experiment or overrides else stored
    check_changes(stored, new, allow_change)
    lock = RunLock(run)  # before reading the checkpoint: no other writer can replace it from here on
    try:
        state = load_checkpoint(run.checkpoint_path)
        check_run_state(run.checkpoint_path, state)
        foreign = unsafe_changes(config_changes(stored, state["config"]))
        if foreign:
            raise CheckpointError(f"{run.checkpoint_path}: written by a different run ({', '.join(foreign)} differ)")
    except BaseException:
        lock.release()
        raise
    return new, Resume(run, lock, state)
