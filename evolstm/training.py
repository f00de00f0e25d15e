"""Training a run end to end: build the parts, open (or resume) the run, step the trainer, finish with results.

`train` is what `python -m evolstm.run`, `evolstm.compare`, the Python API and the benchmarks call; `Run` owns the run
while it trains: its directory, checkpoints, metric rows, elapsed time, and why it stopped.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from evolstm import config
from evolstm.checkpoints import CheckpointError, CheckpointWriter, restore_run
from evolstm.config import ConfigError, Experiment
from evolstm.environment import EnvStartError, policy_spec
from evolstm.evaluation import ClusterError, Evaluator, WorkerLostError, make_evaluator
from evolstm.limits import check_memory
from evolstm.policies import PolicySpec
from evolstm.policies.init import initial_params
from evolstm.policy_files import save_policy
from evolstm.progress import Progress, duration
from evolstm.resume import Resume
from evolstm.rollout import EpisodeError
from evolstm.runs import RunDir, RunLock, RunLockedError
from evolstm.seeding import final_episode_seeds
from evolstm.stopping import RunStopped, StopRequests
from evolstm.tracking import Tracker, check_tracking, open_tracker
from evolstm.trainers import DivergedError, Exported, Trainer, make_trainer
from evolstm.trainers.searcher_state import UnknownStateError

#: failures of the env or the training during a run: the run keeps what it has, says why, and exits with code 1
TRAINING_FAILURES = (EpisodeError, EnvStartError, DivergedError, WorkerLostError)

#: a function that sees each metrics row as it is written; returning False stops the run after that step (it then
#: finishes as after its budget: checkpoint, exported policies, final evaluation)
Callback = Callable[[dict[str, Any]], "bool | None"]


class CallbackError(RuntimeError):
    """The user's callback raised: the run stops there, keeping what it has, and the error is raised on."""


class RunFailed(RuntimeError):
    """A run stopped on one of the TRAINING_FAILURES; its directory keeps the results up to then."""

    def __init__(self, path: Path, cause: Exception) -> None:
        super().__init__(f"{cause} (the run directory {path} keeps the results so far)")
        self.path, self.cause = path, cause


#: what a command reports in one line, by exit code: 2 for a user's mistake, 1 for a failure of the env, the
#: training or the Ray cluster
USER_MISTAKES = (ConfigError, CheckpointError, RunLockedError)
FAILURES = (RunFailed, EnvStartError, ClusterError, UnknownStateError)


class Run:
    """A run being trained: its directory, checkpoint writer, metric rows written so far and elapsed seconds."""

    def __init__(self, directory: RunDir, lock: RunLock, experiment: Experiment, rows: int, elapsed: float) -> None:
        self.dir, self.lock, self.experiment, self.rows = directory, lock, experiment, rows
        self.checkpoints = CheckpointWriter(
            directory, experiment.checkpoint_every, experiment.checkpoint_seconds, config.to_dict(experiment)
        )
        self._start = time.perf_counter() - elapsed
        self.stop_reason = "budget"  # or stop_at, callback, signal, error: summary.json says which

    @classmethod
    def create(cls, experiment: Experiment, out_root: Path) -> Run:
        """A new run directory under `out_root`, with the resolved config in it."""
        try:
            directory = RunDir.create(out_root, experiment.name)
        except OSError as err:
            raise ConfigError(f"--out {out_root}: cannot make a run directory there ({err.strerror or err})") from None
        lock = RunLock(directory)
        try:
            directory.write_config(config.to_dict(experiment))
        except BaseException:
            lock.release()
            raise
        return cls(directory, lock, experiment, 0, 0.0)

    @classmethod
    def reopen(cls, experiment: Experiment, trainer: Trainer, resume: Resume) -> Run:
        """The resumed run brought back to its checkpoint: trainer state restored, later metric rows dropped; nothing
        changes unless this process holds the run's lock."""
        directory, state, lock = resume.run, resume.state, resume.lock
        try:
            restore_run(trainer, state)
        except (KeyError, ValueError, RuntimeError, TypeError, AttributeError, IndexError) as err:
            # the checkpoint is a file from disk: whatever its entries hold, restoring them is parsing
            lock.release()
            reason = " ".join(str(err).split())[:200]  # one line, whatever the damaged entry held
            raise CheckpointError(f"{directory.checkpoint_path}: cannot restore the run from it ({reason})") from None
        run = cls(directory, lock, experiment, state["metrics_rows"], state["wall_time"])
        run.checkpoints.step = trainer.steps
        if not run.complete(trainer):
            try:
                directory.keep_metrics(run.rows)
            except (OSError, ValueError) as err:
                lock.release()
                raise CheckpointError(f"{directory.path}: metrics do not match the checkpoint ({err})") from None
            directory.write_config(config.to_dict(experiment))
        return run

    def complete(self, trainer: Trainer) -> bool:
        """Whether the run had finished already (budget spent and results written)."""
        return trainer.finished() and self.dir.completed()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def loop(
        self, trainer: Trainer, report: Callable[[dict[str, Any], Trainer], None], callback: Callback | None = None
    ) -> tuple[int | None, Exception | None, bool]:
        """Step the trainer until its budget is spent, stop_at is reached, the callback returns False or a stop signal
        arrives, writing a row and (every interval) a checkpoint per step. Returns (stop signal or None, training
        failure or None, left in the middle of a step); `stop_reason` says which ended it."""
        with StopRequests() as stop:
            try:
                while not trainer.finished() and stop.signum is None:
                    row = trainer.step()
                    row["wall_time"] = self.elapsed
                    self.dir.append_metrics(row)
                    self.rows += 1
                    report(row, trainer)
                    self.checkpoints.save_periodic(trainer, self.rows, self.elapsed)
                    if callback is not None and _ask(callback, row) is False and not trainer.finished():
                        self.stop_reason = "callback"
                        return None, None, False
            except KeyboardInterrupt:  # a second signal: stop now; the state is mid-step, the last checkpoint stays
                self.stop_reason = "signal"
                return stop.last or signal.SIGINT, None, True
            except (*TRAINING_FAILURES, CallbackError) as err:  # the env, the training or the callback failed
                self.stop_reason = "error"
                return None, err, not isinstance(err, CallbackError)
            if stop.signum is not None:
                self.stop_reason = "signal"
            elif trainer.reached_goal:
                self.stop_reason = "stop_at"
            return stop.signum, None, False

    def finish(
        self,
        trainer: Trainer,
        evaluator: Evaluator,
        spec: PolicySpec,
        stopped: int | None,
        failure: Exception | None,
        mid_step: bool,
        progress: Progress,
    ) -> tuple[dict[str, Any], Exception | None]:
        """Checkpoint the last completed step, export the policies, evaluate them (after a run that was not stopped
        or failed) and write the summary; returns the summary and the run's failure (the final evaluation's own, if
        it failed)."""
        if not mid_step and self.checkpoints.step != trainer.steps:
            self.checkpoints.save(trainer, self.rows, self.elapsed)
        wall = self.elapsed  # the exit checkpoint is part of the run's time, as its writes' seconds are
        experiment = self.experiment
        exported = trainer.exports()
        info = {  # enough to replay the policy from its file alone, on the run's final-evaluation episodes
            "experiment": experiment.name,
            "task": config.to_dict(experiment)["task"],
            "seed": experiment.seed,
            "final_episodes": experiment.evaluation.final_episodes,
        }
        for name, policy in exported.items():
            save_policy(self.dir.policy_path(name), spec, policy.params, policy.norm, {**info, "policy": name})
        final = {}
        if stopped is None and failure is None:
            try:
                final = final_evaluation(experiment, evaluator, exported, progress)
            except TRAINING_FAILURES as err:  # the policies are exported; the summary says why there is no score
                failure = err
                self.stop_reason = "error"
        trainer_label = f"es:{experiment.trainer.algorithm}" if experiment.trainer.kind == "es" else "reinforce"
        summary = {
            "name": experiment.name,
            "task": experiment.task.id,
            "policy": spec.kind,
            "trainer": trainer_label,
            f"{trainer.STEP}s": trainer.steps,
            "env_steps": trainer.env_steps,
            "threads": experiment.threads,
            "parameters": spec.num_params,
            "wall_time": wall,
            "interrupted": stopped is not None,
            "stop_reason": self.stop_reason,
            "error": str(failure) if failure else None,
            "checkpoint": {
                "step": self.checkpoints.step,
                "writes": self.checkpoints.writes,
                "seconds": self.checkpoints.seconds,
            },
            "final_evaluation": final,
        }
        self.dir.write_summary(summary)
        return summary, failure


def _ask(callback: Callback, row: dict[str, Any]) -> bool | None:
    """The callback's answer for a copy of the row (it cannot change what was written); its own error stops the run."""
    try:
        return callback(dict(row))
    except Exception as err:  # the user's code: the run keeps its results, and the error goes on to the caller
        raise CallbackError(f"the callback raised {type(err).__name__}: {err}") from err


def final_evaluation(
    experiment: Experiment, evaluator: Evaluator, exported: dict[str, Exported], progress: Progress
) -> dict[str, dict[str, float]]:
    """Mean and std of the return of each exported policy over the same `final_episodes` fresh episodes."""
    episodes = experiment.evaluation.final_episodes
    if episodes == 0:
        return {}
    seeds = final_episode_seeds(experiment.seed, episodes)
    result: dict[str, dict[str, float]] = {}
    for name, policy in exported.items():
        progress.say(f"final evaluation: {name} on {episodes} fresh episodes ...")
        start = time.perf_counter()
        returns = evaluator.score(policy.params.unsqueeze(0), seeds, policy.norm).returns[0]
        result[name] = {"mean_return": float(returns.mean()), "std_return": float(returns.std()), "episodes": episodes}
        progress.say(
            f"{name}: mean return {result[name]['mean_return']:.3f} ± {result[name]['std_return']:.3f} over "
            f"{episodes} fresh episodes ({duration(time.perf_counter() - start)})"
        )
    return result


def _make_evaluator(experiment: Experiment, spec: PolicySpec, progress: Progress) -> Evaluator:
    """The experiment's evaluator; Ray's start-up (seconds to tens of seconds) is announced and timed."""
    if experiment.evaluation.backend != "ray":
        return make_evaluator(experiment, spec)
    address = experiment.ray.address or os.environ.get("RAY_ADDRESS")
    progress.say(f"ray: joining the cluster at {address} ..." if address else "ray: starting a private cluster ...")
    start = time.perf_counter()
    evaluator = make_evaluator(experiment, spec)
    workers = len(getattr(evaluator, "workers", ()))
    progress.say(
        f"ray: cluster ready in {duration(time.perf_counter() - start)}; {workers} workers start with the first step"
    )
    return evaluator


def _how_to_go_on(trainer: Trainer, experiment: Experiment) -> str:
    """Why a resumed run is finished already, and which setting continues it."""
    done = f"already finished at {trainer.STEP} {trainer.steps}"
    if trainer.reached_goal:
        return (
            f"{done}: it reached stop_at ({experiment.trainer.stop_at}); to go on, raise stop_at or set it to null "
            f"(e.g. --set trainer.stop_at=null --allow-change), and the budget if it is spent"
        )
    return f"{done}; to go on, raise the budget (e.g. --set trainer.{trainer.STEP}s=N --allow-change)"


def _open_tracker(experiment: Experiment, run: Run, resumed: bool) -> Tracker:
    """The run's trackers; a new run whose tracker cannot be opened (a folder it cannot write, a store it cannot
    reach) is removed again, so that the mistake leaves nothing behind, as the config's own mistakes do."""
    try:
        return open_tracker(experiment, run.dir.path, resumed)
    except ConfigError:
        if not resumed:
            shutil.rmtree(run.dir.path, ignore_errors=True)  # made a moment ago: its config and an empty policies/
        raise


def _ending(run: Run, trainer: Trainer, experiment: Experiment) -> str | None:
    """Why the run ended before its budget, in words (None when it spent its budget)."""
    at = f"{trainer.STEP} {trainer.steps}"
    if run.stop_reason == "stop_at":
        return f"reached stop_at ({experiment.trainer.stop_at}) at {at}"
    if run.stop_reason == "callback":
        return f"stopped by the callback at {at}"
    if run.stop_reason == "signal":
        return (
            f"stopped: checkpoint at {trainer.STEP} {run.checkpoints.step}; "
            f"continue with python -m evolstm.run --resume {run.dir.path}"
        )
    return None


def train(
    experiment: Experiment,
    out_root: Path,
    stream: TextIO | None = None,
    quiet: bool = False,
    resume: Resume | None = None,
    callback: Callback | None = None,
) -> RunDir:
    """Run an experiment end to end, or continue one from its checkpoint; everything that can fail on user input
    fails before the run folder exists (or, on resume, before anything in it changes). `quiet` prints only the run
    directory; `callback` sees each metrics row and stops the run by returning False."""
    progress = Progress(stream or sys.stdout, quiet, experiment)
    torch.set_num_threads(experiment.threads)
    torch.manual_seed(experiment.seed)
    np.random.seed(experiment.seed)
    run: Run | None = None
    evaluator: Evaluator | None = None
    tracker: Tracker | None = None
    try:
        spec = policy_spec(experiment.task, experiment.policy)
        check_memory(experiment, spec)  # before anything large is allocated
        check_tracking(experiment)
        evaluator = _make_evaluator(experiment, spec, progress)
        trainer = make_trainer(
            experiment, evaluator, spec, initial_params(spec, experiment.policy.forget_bias, experiment.policy.chrono)
        )
        run = Run.reopen(experiment, trainer, resume) if resume else Run.create(experiment, out_root)
        if run.complete(trainer):
            progress.stream.write(f"{run.dir.path}: {_how_to_go_on(trainer, experiment)}\n")
            return run.dir
        tracker = _open_tracker(experiment, run, resume is not None)
        progress.header(spec, run.dir.path, f"{trainer.STEP} {trainer.steps}" if resume else None)
        if resume is None:
            run.checkpoints.save(trainer, 0, 0.0)

        def report(row: dict[str, Any], trainer: Trainer) -> None:
            for warning in row.get("warnings", ()):
                print(f"warning: {warning}", file=sys.stderr)
            tracker.log(row)
            progress.step(row, trainer.STEP, trainer.GREEDY, trainer.progress, trainer.finished())

        progress.start(trainer.STEP, trainer.steps, trainer.env_steps, trainer.progress)
        try:
            stopped, failure, mid_step = run.loop(trainer, report, callback)
        finally:
            progress.close_bar()
        ending = _ending(run, trainer, experiment)
        if ending:
            progress.say(ending)
        summary, failure = run.finish(trainer, evaluator, spec, stopped, failure, mid_step, progress)
        tracker.finish(summary)
        tracker = None
    finally:
        if tracker is not None:  # left by an unexpected error: close the sinks with what they have
            tracker.finish({})
        if evaluator is not None:
            evaluator.close()
        if run is not None:
            run.lock.release()
        elif resume is not None:  # failed before the run was reopened
            resume.lock.release()
    progress.say(f"done in {run.elapsed:.1f}s, {trainer.env_steps:,} env steps: {run.dir.path}")
    if stopped is not None:
        raise RunStopped(stopped)
    if isinstance(failure, CallbackError):
        raise failure.__cause__ from None
    if failure:
        raise RunFailed(run.dir.path, failure) from failure
    return run.dir
