"""What a replay plays: a policy (from a run directory by name, or any policy file) with the task it acts in and
the episodes the run's final evaluation used; every user mistake becomes one ReplayError line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pydantic

from evolstm import config
from evolstm.config import ConfigError, TaskConfig
from evolstm.environment import make_env
from evolstm.policy_files import PolicyFile, PolicyFileError, load_policy
from evolstm.replay.recording import check_fits


class ReplayError(ValueError):
    """A replay that cannot start: missing run or policy, corrupt file, or a policy that does not fit the task."""


@dataclass(frozen=True)
class ReplaySource:
    """A loaded policy, the task to play it in, and the run's seed, final-episode count and reported return."""

    name: str
    policy: PolicyFile
    task: TaskConfig
    run_seed: int
    final_episodes: int
    reported_return: float | None


def resolve(source: Path, policy: str, task_id: str | None = None) -> ReplaySource:
    """`source` is a run directory (policy: an exported name or a file path) or a policy file on its own, played in
    the task its metadata names or, with `task_id`, in that task (an id the user trusts) with the metadata's kwargs."""
    if not source.exists():
        raise ReplayError(f"{source}: no such run directory or policy file")
    if task_id is not None and source.is_dir():
        raise ReplayError("--task is for a policy file on its own; a run directory replays the task of its config.yaml")
    try:
        found = _from_run(source, policy) if source.is_dir() else _from_file(source, task_id)
        env = make_env(found.task)
        try:
            check_fits(found.policy, env, found.task)
        finally:
            env.close()
    except (ConfigError, PolicyFileError) as err:
        raise ReplayError(str(err)) from None
    return found


def _from_run(run: Path, policy: str) -> ReplaySource:
    experiment = config.load(run / "config.yaml")
    path = Path(policy)
    if path.suffix != ".safetensors":
        path = run / "policies" / f"{policy}.safetensors"
        if not path.is_file():
            have = ", ".join(sorted(p.stem for p in (run / "policies").glob("*.safetensors"))) or "none"
            raise ReplayError(f"{run}: no policy named {policy!r} (exported: {have}; or give a .safetensors path)")
    loaded = load_policy(path)
    trained_on = (loaded.info.get("task") or {}).get("id", experiment.task.id)
    if trained_on != experiment.task.id:
        raise ReplayError(f"{path}: trained on {trained_on}, but {run} is a run of {experiment.task.id}")
    reported = None
    try:
        reported = json.loads((run / "summary.json").read_text())["final_evaluation"][path.stem]["mean_return"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # an interrupted run or a foreign policy file has no reported return
    return ReplaySource(
        path.stem, loaded, experiment.task, experiment.seed, experiment.evaluation.final_episodes, reported
    )


def _from_file(path: Path, task_id: str | None) -> ReplaySource:
    loaded = load_policy(path)
    task = dict(loaded.info.get("task") or {})
    if task_id is None:
        if not task:
            raise ReplayError(f"{path}: its metadata names no task; replay it from its run directory or pass --task ID")
        if ":" in task["id"]:  # gymnasium and TaskConfig would import the module named before the colon
            raise ReplayError(
                f"{path}: its task {task['id']!r} names a module to import, and a policy file never runs code; "
                f"pass --task {task['id']} if you trust that module, or replay from its run directory"
            )
    try:
        task = TaskConfig.model_validate({**task, "id": task_id or task["id"]})
    except pydantic.ValidationError as err:
        where = "--task" if task_id else f"{path}: the task in its metadata"
        message = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise ReplayError(f"{where} is not valid here ({' '.join(message.split())})") from None
    info = loaded.info
    return ReplaySource(path.stem, loaded, task, info.get("seed", 0), info.get("final_episodes", 10), None)
