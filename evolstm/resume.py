"""Resuming a run: which config changes a resume may make, and the checkpointed state of a whole run."""

from __future__ import annotations

import time
from typing import Any

from evolstm import config
from evolstm.checkpoints import rng_state, save_checkpoint, set_rng_state
from evolstm.config import ConfigError, Experiment
from evolstm.runs import RunDir
from evolstm.trainers import Trainer

#: Fields a resume may change with --allow-change: the budget and where/how verbosely the run runs. Everything else
#: (task, policy, trainer settings, seeds, episodes, backend, threads) would make the continued run a different one.
SAFE_TO_CHANGE = (
    "trainer.generations", "trainer.iterations", "trainer.max_env_steps", "trainer.stop_at",
    "log_every", "checkpoint_every", "ray.address", "ray.num_cpus", "ray.include_dashboard",
)


def config_changes(stored: Experiment, new: Experiment) -> dict[str, tuple[Any, Any]]:
    """Fields whose value differs: dotted path -> (stored, new)."""
    old_flat, new_flat = config.flat_fields(config.to_dict(stored)), config.flat_fields(config.to_dict(new))
    keys = dict.fromkeys([*old_flat, *new_flat])
    return {key: (old_flat.get(key), new_flat.get(key)) for key in keys if old_flat.get(key) != new_flat.get(key)}


def unsafe_changes(stored: Experiment, changes: dict[str, tuple[Any, Any]]) -> list[str]:
    """The changed fields that would make the continued run a different one. Moving a run to another cluster is
    safe unless it is REINFORCE on Ray with `workers: auto`: its episodes are sampled per worker share."""
    safe = set(SAFE_TO_CHANGE)
    evaluation = stored.evaluation
    if stored.trainer.kind == "reinforce" and evaluation.backend == "ray" and evaluation.workers == "auto":
        safe -= {"ray.address", "ray.num_cpus"}
    return [key for key in changes if key not in safe]


def check_changes(stored: Experiment, new: Experiment, allow: bool) -> None:
    """ConfigError naming the changed fields unless all are safe and `allow` is set."""
    changes = config_changes(stored, new)
    if not changes:
        return
    listed = ", ".join(f"{key} ({old!r} -> {new!r})" for key, (old, new) in changes.items())
    unsafe = unsafe_changes(stored, changes)
    if unsafe:
        raise ConfigError(
            f"cannot resume with a changed config: {listed}; {', '.join(unsafe)} cannot change on resume "
            f"(only the budget, log/checkpoint intervals and the Ray address/size may)"
        )
    if not allow:
        raise ConfigError(f"the config differs from the run's: {listed}; pass --allow-change to resume with it")


def run_state(trainer: Trainer, metrics_rows: int, wall_time: float) -> dict[str, Any]:
    """Everything a checkpoint holds: the trainer, the global random generators, and the run's counters."""
    return {"trainer": trainer.state_dict(), "rng": rng_state(), "metrics_rows": metrics_rows, "wall_time": wall_time}


def restore_run(trainer: Trainer, state: dict[str, Any]) -> None:
    """Put a checkpoint's trainer and random-generator state back (the run's counters are the caller's)."""
    trainer.load_state_dict(state["trainer"])
    set_rng_state(state["rng"])


class Checkpoints:
    """Writes the run's checkpoint every `every` steps and when asked; counts writes and the time they take."""

    def __init__(self, run: RunDir, experiment: Experiment) -> None:
        self.run, self.every, self.config = run, experiment.checkpoint_every, config.to_dict(experiment)
        self.writes, self.seconds, self.generation = 0, 0.0, None

    def save(self, trainer: Trainer, metrics_rows: int, wall_time: float) -> None:
        start = time.perf_counter()
        self.run.sync_metrics()  # the rows the checkpoint counts must be on disk before it is
        state = {**run_state(trainer, metrics_rows, wall_time), "config": self.config}
        save_checkpoint(self.run.checkpoint_path, state)
        self.writes += 1
        self.seconds += time.perf_counter() - start
        self.generation = trainer.generation

    def save_periodic(self, trainer: Trainer, metrics_rows: int, wall_time: float) -> None:
        """Save if this step ends a checkpoint interval."""
        if self.every and trainer.generation % self.every == 0:
            self.save(trainer, metrics_rows, wall_time)
