"""The run directory: resolved config, metrics.jsonl, exported policies, summary. Never overwrites another run."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from evolstm.atomic import write_text
from evolstm.config.yaml_io import dump


class RunDir:
    """One run's folder; created exclusively so that an existing run is never touched."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, root: Path, name: str) -> RunDir:
        """A new run folder `root/name-YYYYmmdd-HHMMSS` (see new_folder), with its policies folder."""
        path = new_folder(root, name)
        (path / "policies").mkdir()
        return cls(path)

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    def sync_metrics(self) -> None:
        """Make the metric rows written so far durable (before a checkpoint that counts them)."""
        if self.metrics_path.exists():
            handle = os.open(self.metrics_path, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)

    def completed(self) -> bool:
        """Whether the run wrote its summary after finishing (not stopped, not failed)."""
        try:
            summary = json.loads((self.path / "summary.json").read_text())
            return not summary["interrupted"] and summary["error"] is None
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def keep_metrics(self, rows: int) -> None:
        """Cut metrics.jsonl back to its first `rows` lines (those a checkpoint covers), in one atomic step."""
        lines = self.metrics_path.read_text().splitlines(keepends=True) if self.metrics_path.exists() else []
        complete = [line for line in lines[:rows] if line.endswith("\n")]
        if len(complete) < rows:
            raise ValueError(f"{self.metrics_path}: {len(complete)} complete rows, the checkpoint covers {rows}")
        write_text(self.metrics_path, "".join(complete))

    def policy_path(self, name: str) -> Path:
        return self.path / "policies" / f"{name}.safetensors"

    def write_config(self, config: dict[str, Any]) -> None:
        write_text(self.config_path, dump(config))  # YAML that evolstm's loader reads back to the same values

    def append_metrics(self, row: dict[str, Any]) -> None:
        """One JSON line per generation, flushed at once so a crash loses at most the line being written."""
        with open(self.metrics_path, "a") as handle:
            handle.write(json.dumps(row) + "\n")

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_text(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")


#: set by Ray's job supervisor in the environment of a `ray job submit` entrypoint
RAY_JOB_VARIABLE = "RAY_JOB_CONFIG_JSON_ENV_VAR"
#: where runs go inside a Ray job unless --out or EVOLSTM_OUT says otherwise: a folder that outlives the job (the job's
#: working directory is a temporary copy that Ray deletes with its session)
JOB_RUNS = Path("~/evolstm-runs")


def default_out_root(local: str = "runs") -> Path:
    """The folder for results when no --out is given: $EVOLSTM_OUT if set; inside a Ray job ~/evolstm-runs on the node
    that runs the job's command (the head); else ./`local` (runs, or comparisons for evolstm.compare)."""
    if os.environ.get("EVOLSTM_OUT"):
        return Path(os.environ["EVOLSTM_OUT"]).expanduser()
    if RAY_JOB_VARIABLE in os.environ:
        return JOB_RUNS.expanduser()
    return Path(local)


def new_folder(root: Path, name: str) -> Path:
    """A folder `root/name-YYYYmmdd-HHMMSS` made now (with -2, -3, ... if that exists already): never another's."""
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1, 1000):
        path = root / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{root}: too many folders named {stem}")


class RunLockedError(RuntimeError):
    """Another live process holds the run directory's lock: it is writing that run."""


class RunLock:
    """One writer per run directory: an OS file lock on RUN_DIR/.lock (the kernel releases it when the holder exits,
    however it exits, so a killed run never blocks its resume); the file names the holder's process id."""

    def __init__(self, run: RunDir) -> None:
        path = run.path / ".lock"
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes (PEP 446)
        except OSError as err:
            raise RunLockedError(f"{run.path}: cannot lock the run for writing ({err.strerror or err})") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise RunLockedError(
                f"{run.path}: process {holder} is writing this run; wait for it to finish or stop it first"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Let another process write the run (also happens when this process exits)."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the last descriptor drops the lock
            self._fd = -1


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All complete metric rows of a run directory (a last line torn by a crash is left out)."""
    with open(Path(path) / "metrics.jsonl") as handle:
        lines = handle.read().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    return [json.loads(line) for line in lines if line.strip()]
