"""Tracking sinks: every metric row also goes to TensorBoard and/or MLflow, with the resolved config as hyperparameters.

metrics.jsonl stays the record: a sink that fails during a run says so once on stderr and is dropped while training
goes on. Both packages are optional extras (evolstm[tensorboard], evolstm[mlflow]), imported only by their sink.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import numbers
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from evolstm import config
from evolstm.atomic import write_text
from evolstm.config import ConfigError, Experiment, MLflowConfig
from evolstm.config.yaml_io import dump
from evolstm.runs import read_metrics
from evolstm.trainers import TRAINERS

#: in the run directory: which MLflow run this run logs to, so that a resume continues that run
TRACKING_FILE = "tracking.json"
#: the default MLflow store, next to the run directories: one SQLite file (MLflow's own default backend since 3.x)
DEFAULT_STORE = "mlflow.db"
#: where runs in the default store keep artifacts (evolstm logs none; MLflow wants a location per experiment)
DEFAULT_ARTIFACTS = "mlartifacts"
#: MLflow gets the rows of this many seconds in one write (and all at the end)
MLFLOW_FLUSH_SECONDS = 2.0


def scalars(row: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a row, nested dicts flattened with "/"; bools, strings, lists and None are left out."""
    found: dict[str, float] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(scalars(value, f"{name}/"))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
            found[name] = float(value)
    return found


def _metrics(row: dict[str, Any], step_key: str) -> dict[str, float]:
    """A row's metrics: its scalars but the step (the x axis)."""
    return scalars({key: value for key, value in row.items() if key != step_key})


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())[:300]


def _require(module: str, sink: str, what: str = "") -> None:
    """ConfigError (one line) unless `module` imports."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"tracking.{sink}: {what or 'needs'} the {module} package (pip install 'evolstm[{sink}]')"
        ) from None


def _refused_file_store(uri: str) -> bool:
    """Whether MLflow would open `uri` as its file store (a plain path or file:), which MLflow 3 refuses unless
    MLFLOW_ALLOW_FILE_STORE is set."""
    allowed = os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() in ("true", "1")
    return urlparse(uri).scheme in ("", "file") and not allowed


def check_tracking(experiment: Experiment) -> None:
    """ConfigError in one line if a sink is asked for whose package is missing; called before the run folder exists."""
    tracking = experiment.tracking
    if tracking.tensorboard is not False:
        _require("tensorboard", "tensorboard")
    if tracking.mlflow is not None:
        _require("mlflow", "mlflow")
        uri = tracking.mlflow.uri
        if uri is None or uri.startswith("sqlite:"):
            for module in ("sqlalchemy", "alembic"):
                _require(module, "mlflow", "an SQLite store needs")
        elif _refused_file_store(uri):
            raise ConfigError(
                f"tracking.mlflow.uri: {uri!r} is MLflow's file store, which MLflow refuses unless "
                "MLFLOW_ALLOW_FILE_STORE=true is set; use sqlite:///PATH/mlflow.db (or null for <out>/mlflow.db)"
            )


class _Sink(Protocol):
    """One tracker backend; `missing_from`: the first step it lacks of a reopened run (sent to it on opening)."""

    name: str
    missing_from: int

    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def finish(self, metrics: dict[str, float], step: int, status: str) -> None: ...


class Tracker:
    """Sends each metric row and the final evaluation to the configured sinks; with none it does nothing."""

    def __init__(self, sinks: list[_Sink], step_key: str) -> None:
        self._sinks, self._step_key, self._step = sinks, step_key, 0

    def log(self, row: dict[str, Any]) -> None:
        """One metrics row as appended to metrics.jsonl: its numbers at step row[step_key] (the step key itself is the
        x axis, not a metric)."""
        if not self._sinks:
            return
        self._step = int(row[self._step_key])
        metrics = _metrics(row, self._step_key)
        for sink in list(self._sinks):
            try:
                sink.log(metrics, self._step)
            except Exception as err:  # a tracker's trouble must not end the training: metrics.jsonl has the row
                self._drop(sink, err)

    def finish(self, summary: dict[str, Any]) -> None:
        """Log the final evaluation as final/<policy>/<stat> at the last step, mark how the run ended, close the
        sinks; safe once at the end of any run (finished, stopped or failed), and a no-op after that."""
        steps = summary.get(f"{self._step_key}s")
        step = steps - 1 if isinstance(steps, int) and steps > 0 else self._step
        final = scalars(summary.get("final_evaluation") or {}, "final/")
        if summary.get("interrupted"):
            status = "KILLED"
        elif summary.get("error") or "final_evaluation" not in summary:
            status = "FAILED"
        else:
            status = "FINISHED"
        sinks, self._sinks = self._sinks, []
        for sink in sinks:
            try:
                sink.finish(final, step, status)
            except Exception as err:
                self._drop(sink, err)

    def _drop(self, sink: _Sink, err: Exception) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)
        print(
            f"warning: tracking.{sink.name}: {_one_line(err)}; not logging to it any more (metrics.jsonl has every row)",
            file=sys.stderr,
        )


def _hparam(value: Any) -> Any:
    """A config value as TensorBoard's hparams take it: numbers, strings and bools as they are, the rest as JSON."""
    return value if isinstance(value, (int, float, str)) else json.dumps(value)


class _TensorBoard:
    """Event files through torch's SummaryWriter: scalars per step, the config as text and as hparams."""

    name = "tensorboard"

    def __init__(self, folder: Path, experiment: Experiment, resumed: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        resolved = config.to_dict(experiment)
        # on resume TensorBoard hides every earlier event (purge_step 0) and gets the run's rows again: exactly the
        # rows metrics.jsonl keeps, whatever a killed run had left unflushed or wrote after its checkpoint
        self.missing_from = 0
        if resumed:
            _after_earlier_files(folder)
        self._writer = SummaryWriter(str(folder), purge_step=0 if resumed else None, flush_secs=10)
        self._writer.add_text("config", f"```yaml\n{dump(resolved)}```")
        trainer = TRAINERS[experiment.trainer.kind]
        flat = {key: _hparam(value) for key, value in config.flat_fields(resolved).items()}
        for summary in hparams(flat, dict.fromkeys(("best", "mean", trainer.GREEDY), 0.0)):
            self._writer.file_writer.add_summary(summary)

    def log(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self._writer.add_scalar(key, value, step)

    def finish(self, metrics: dict[str, float], step: int, status: str) -> None:
        try:
            self.log(metrics, step)
        finally:
            self._writer.close()


def _after_earlier_files(folder: Path) -> None:
    """TensorBoard reads a folder's event files in name order, and a name starts with the second it was made: a
    resume within the second of the newest file waits for the next one (at most ~1 s), so that its file, which
    starts with the purge, is read last."""
    seconds = [
        int(part) for part in (p.name.split(".")[3] for p in folder.glob("events.out.tfevents.*")) if part.isdigit()
    ]
    deadline = time.monotonic() + 1.1  # a clock set back (another machine) waits no longer than this
    while seconds and time.time() < max(seconds) + 1 and time.monotonic() < deadline:
        time.sleep(0.02)


def _mlflow_name(key: str) -> str:
    """A metric or param name MLflow accepts (alphanumerics, _ - . / space; at most 250 characters)."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", key)[:250]


def _param(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _read_tracking(run_dir: Path) -> dict[str, Any]:
    """What RUN_DIR/tracking.json remembers, by sink ({} if nothing)."""
    try:
        data = json.loads((run_dir / TRACKING_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(run_dir: Path, sink: str, entry: dict[str, Any]) -> None:
    """Record where a sink logs this run, for a resume to continue there."""
    write_text(run_dir / TRACKING_FILE, json.dumps({**_read_tracking(run_dir), sink: entry}) + "\n")


def _tensorboard_folder(setting: bool | str, run_dir: Path, resumed: bool) -> Path:
    """RUN_DIR/tensorboard, or a folder of its own under the shared one: FOLDER/<run dir name> (-2, -3, ... if
    another run of that name, from another output folder, has it already); a resume finds it in tracking.json."""
    if setting is True:
        return run_dir / "tensorboard"
    root = Path(setting).expanduser().resolve()
    stored = (_read_tracking(run_dir).get("tensorboard") or {}).get("folder") if resumed else None
    if isinstance(stored, str) and Path(stored).parent == root:
        return Path(stored)
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = root / (run_dir.name if attempt == 1 else f"{run_dir.name}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        _remember(run_dir, "tensorboard", {"folder": str(folder)})
        return folder
    raise FileExistsError(f"{root}: too many folders named {run_dir.name}")


class _MLflow:
    """One MLflow run per run directory: config as params, metrics per step, final evaluation; resumes continue it."""

    name = "mlflow"

    def __init__(self, settings: MLflowConfig, experiment: Experiment, run_dir: Path, resumed: bool) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

        out_root = run_dir.resolve().parent
        uri = settings.uri or f"sqlite:///{out_root / DEFAULT_STORE}"
        with _quiet_store_setup():  # opening a new SQLite store creates its tables
            self._client = MlflowClient(tracking_uri=uri)
        stored = _read_tracking(run_dir).get("mlflow") or {}
        params = {
            _mlflow_name(key): _param(value)[:MAX_PARAM_VAL_LENGTH]
            for key, value in config.flat_fields(config.to_dict(experiment)).items()
        }
        self.run_id = stored.get("run_id") if resumed and stored.get("uri") == uri else None
        self.missing_from = 0
        self._pending: list[Any] = []
        self._flushed = time.monotonic()
        if self.run_id is not None:
            logged = self._client.get_run(self.run_id).data.params  # params cannot change: changed ones become tags
            for key in [key for key in params if key in logged and logged[key] != params[key]]:
                self._client.set_tag(self.run_id, f"resume.{key}"[:250], params.pop(key))
            params = {key: value for key, value in params.items() if key not in logged}
            self._client.update_run(self.run_id, status="RUNNING")
            history = self._client.get_metric_history(self.run_id, "wall_time")  # a key of every row
            self.missing_from = max((metric.step for metric in history), default=-1) + 1
        else:
            name = settings.experiment or experiment.name
            artifacts = None if settings.uri else (out_root / DEFAULT_ARTIFACTS).as_uri()
            experiment_id = self._experiment_id(name, artifacts)
            tags = {"evolstm.run_dir": str(run_dir.resolve()), "evolstm.task": experiment.task.id}
            self.run_id = self._client.create_run(experiment_id, run_name=run_dir.name, tags=tags).info.run_id
            _remember(run_dir, "mlflow", {"uri": uri, "run_id": self.run_id})
        items = [Param(key, value) for key, value in params.items()]
        for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
            self._client.log_batch(self.run_id, params=items[start : start + MAX_PARAMS_TAGS_PER_BATCH])

    def _experiment_id(self, name: str, artifacts: str | None) -> str:
        """The MLflow experiment's id, made if new (another process may make it at the same moment)."""
        from mlflow.exceptions import MlflowException

        found = self._client.get_experiment_by_name(name)
        if found is None:
            try:
                return self._client.create_experiment(name, artifact_location=artifacts)
            except MlflowException:
                found = self._client.get_experiment_by_name(name)
                if found is None:
                    raise
        return found.experiment_id

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Buffered: a store write (an fsync for SQLite) per row would cost fast runs more than their steps."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending += [Metric(_mlflow_name(key), value, now, step) for key, value in metrics.items()]
        if time.monotonic() - self._flushed >= MLFLOW_FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending, self._flushed = self._pending, [], time.monotonic()
        for start in range(0, len(pending), 1000):  # MLflow's limit per batch
            self._client.log_batch(self.run_id, metrics=pending[start : start + 1000])

    def finish(self, metrics: dict[str, float], step: int, status: str) -> None:
        try:
            self.log(metrics, step)
            self._flush()
        finally:
            self._client.set_terminated(self.run_id, status=status)


@contextmanager
def _quiet_store_setup() -> Iterator[None]:
    """Keep MLflow's and alembic's INFO lines about creating a new SQLite store's tables off the run's output."""
    loggers = [logging.getLogger(name) for name in ("alembic", "mlflow.store.db.utils")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    """The metric rows of a reopened run (cut back to its checkpoint already)."""
    try:
        return read_metrics(run_dir)
    except OSError:
        return []


def open_tracker(experiment: Experiment, run_dir: Path, resumed: bool) -> Tracker:
    """The sinks `experiment.tracking` asks for, opened on `run_dir` (after it exists, or after a resume reopened it);
    ConfigError in one line if one cannot be opened."""
    tracking = experiment.tracking
    step_key = TRAINERS[experiment.trainer.kind].STEP
    sinks: list[_Sink] = []
    if tracking.tensorboard is False and tracking.mlflow is None:
        return Tracker(sinks, step_key)
    rows = _rows(run_dir) if resumed else []
    name = "tensorboard"
    try:
        if tracking.tensorboard is not False:
            folder = _tensorboard_folder(tracking.tensorboard, run_dir, resumed)
            sinks.append(_TensorBoard(folder, experiment, resumed))
        name = "mlflow"
        if tracking.mlflow is not None:
            sinks.append(_MLflow(tracking.mlflow, experiment, run_dir, resumed))
        for sink in sinks:  # a reopened run's rows that a sink lacks (turned on now, or lost by a killed run) first
            name = sink.name
            for row in rows:
                if row[step_key] >= sink.missing_from:
                    sink.log(_metrics(row, step_key), int(row[step_key]))
    except Exception as err:  # a folder that cannot be written, a store that cannot be reached
        Tracker(sinks, step_key).finish({})
        raise ConfigError(f"tracking.{name}: cannot open it ({_one_line(err)})") from err
    return Tracker(sinks, step_key)
