"""Training a run end to end: build the parts, open (or resume) the run, step the trainer, finish with results.

`train` is what `python -m evolstm.run`, `evolstm.compare` and the benchmarks call; `Run` owns the run while it trains:
its directory, checkpoints, metric rows, elapsed time, and the warnings each step's row carries.
"""

from __future__ import annotations

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
from evolstm.resume import Resume
from evolstm.rollout import EpisodeError
from evolstm.runs import RunDir, RunLock, RunLockedError
from evolstm.seeding import final_episode_seeds
from evolstm.stopping import RunStopped, StopRequests
from evolstm.trainers import DivergedError, Exported, Trainer, make_trainer

#: failures of the env or the training during a run: the run keeps what it has, says why, and exits with code 1
TRAINING_FAILURES = (EpisodeError, EnvStartError, DivergedError, WorkerLostError)


class RunFailed(RuntimeError):
    """A run stopped on one of the TRAINING_FAILURES; its directory keeps the results up to then."""

    def __init__(self, path: Path, cause: Exception) -> None:
        super().__init__(f"{cause} (the run directory {path} keeps the results so far)")
        self.path, self.cause = path, cause


#: what a command reports in one line, by exit code: 2 for a user's mistake, 1 for a failure of the env, the
#: training or the Ray cluster
USER_MISTAKES = (ConfigError, CheckpointError, RunLockedError)
FAILURES = (RunFailed, EnvStartError, ClusterError)


class Run:
    """A run being trained: its directory, checkpoint writer, metric rows written so far and elapsed seconds."""

    def __init__(self, directory: RunDir, lock: RunLock, experiment: Experiment, rows: int, elapsed: float) -> None:
        self.dir, self.lock, self.experiment, self.rows = directory, lock, experiment, rows
        self.checkpoints = CheckpointWriter(
            directory, experiment.checkpoint_every, experiment.checkpoint_seconds, config.to_dict(experiment)
        )
        self._start = time.perf_counter() - elapsed

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
        self, trainer: Trainer, report: Callable[[dict[str, Any], Trainer], None]
    ) -> tuple[int | None, Exception | None, bool]:
        """Step the trainer until its budget is spent or a stop signal arrives, writing a row and (every interval) a
        checkpoint per step. Returns (stop signal or None, training failure or None, left in the middle of a step)."""
        with StopRequests() as stop:
            try:
                while not trainer.finished() and stop.signum is None:
                    row = trainer.step()
                    row["wall_time"] = self.elapsed
                    self.dir.append_metrics(row)
                    self.rows += 1
                    report(row, trainer)
                    self.checkpoints.save_periodic(trainer, self.rows, self.elapsed)
                return stop.signum, None, False
            except KeyboardInterrupt:  # a second signal: stop now; the state is mid-step, the last checkpoint stays
                return stop.last or signal.SIGINT, None, True
            except TRAINING_FAILURES as err:  # the env or the training failed: keep what the run has
                return None, err, True

    def finish(
        self,
        trainer: Trainer,
        evaluator: Evaluator,
        spec: PolicySpec,
        stopped: int | None,
        failure: Exception | None,
        mid_step: bool,
    ) -> tuple[dict[str, dict[str, float]], Exception | None]:
        """Checkpoint the last completed step, export the policies, evaluate them (after a full run) and write the
        summary; returns the final evaluation and the run's failure (the final evaluation's own, if it failed)."""
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
                final = final_evaluation(experiment, evaluator, exported)
            except TRAINING_FAILURES as err:  # the policies are exported; the summary says why there is no score
                failure = err
        trainer_label = f"es:{experiment.trainer.algorithm}" if experiment.trainer.kind == "es" else "reinforce"
        self.dir.write_summary(
            {
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
                "error": str(failure) if failure else None,
                "checkpoint": {
                    "step": self.checkpoints.step,
                    "writes": self.checkpoints.writes,
                    "seconds": self.checkpoints.seconds,
                },
                "final_evaluation": final,
            }
        )
        return final, failure


def final_evaluation(
    experiment: Experiment, evaluator: Evaluator, exported: dict[str, Exported]
) -> dict[str, dict[str, float]]:
    """Mean and std of the return of each exported policy over the same `final_episodes` fresh episodes."""
    episodes = experiment.evaluation.final_episodes
    if episodes == 0:
        return {}
    seeds = final_episode_seeds(experiment.seed, episodes)
    result: dict[str, dict[str, float]] = {}
    for name, policy in exported.items():
        returns = evaluator.score(policy.params.unsqueeze(0), seeds, policy.norm).returns[0]
        result[name] = {"mean_return": float(returns.mean()), "std_return": float(returns.std()), "episodes": episodes}
    return result


def progress_line(row: dict[str, Any], trainer: Trainer, total: int | None) -> str:
    """One progress line: step, batch returns, greedy return, env steps, wall time."""

    def number(key: str) -> str:
        return f"{row[key]:9.3f}" if row.get(key) is not None else f"{'-':>9}"

    greedy = f" {trainer.GREEDY} {number(trainer.GREEDY)}" if trainer.GREEDY in row else ""
    budget = f"/{total}" if total else ""
    short = {"generation": "gen", "iteration": "iter"}.get(trainer.STEP, trainer.STEP)
    return (
        f"{short} {row[trainer.STEP] + 1:>5}{budget} | best {number('best')} mean {number('mean')}{greedy}"
        f" | steps {row['env_steps']:>10,} | {row['wall_time']:7.1f}s"
    )


def _how_to_go_on(trainer: Trainer, experiment: Experiment) -> str:
    """Why a resumed run is finished already, and which setting continues it."""
    done = f"already finished at {trainer.STEP} {trainer.steps}"
    if trainer.reached_goal:
        return (
            f"{done}: it reached stop_at ({experiment.trainer.stop_at}); to go on, raise stop_at or set it to null "
            f"(e.g. --set trainer.stop_at=null --allow-change), and the budget if it is spent"
        )
    return f"{done}; to go on, raise the budget (e.g. --set trainer.{trainer.STEP}s=N --allow-change)"


def train(
    experiment: Experiment,
    out_root: Path,
    stream: TextIO | None = None,
    quiet: bool = False,
    resume: Resume | None = None,
) -> RunDir:
    """Run an experiment end to end, or continue one from its checkpoint; everything that can fail on user input
    fails before the run folder exists (or, on resume, before anything in it changes)."""
    stream = stream or sys.stdout
    torch.set_num_threads(experiment.threads)
    torch.manual_seed(experiment.seed)
    np.random.seed(experiment.seed)
    run: Run | None = None
    evaluator: Evaluator | None = None
    try:
        spec = policy_spec(experiment.task, experiment.policy)
        check_memory(experiment, spec)  # before anything large is allocated
        evaluator = make_evaluator(experiment, spec)
        trainer = make_trainer(
            experiment, evaluator, spec, initial_params(spec, experiment.policy.forget_bias, experiment.policy.chrono)
        )
        run = Run.reopen(experiment, trainer, resume) if resume else Run.create(experiment, out_root)
        if run.complete(trainer):
            stream.write(f"{run.dir.path}: {_how_to_go_on(trainer, experiment)}\n")
            return run.dir
        if not quiet:
            where = f"resuming at {trainer.STEP} {trainer.steps}" if resume else "run dir"
            stream.write(
                f"evolstm: {experiment.name} | {experiment.task.id} | {spec.kind} ({spec.num_params:,} "
                f"parameters) | {experiment.trainer.kind} | {where} {run.dir.path}\n"
            )
        if resume is None:
            run.checkpoints.save(trainer, 0, 0.0)

        def report(row: dict[str, Any], trainer: Trainer) -> None:
            for warning in row.get("warnings", ()):
                print(f"warning: {warning}", file=sys.stderr)
            if not quiet and (row[trainer.STEP] % experiment.log_every == 0 or trainer.finished()):
                stream.write(progress_line(row, trainer, experiment.trainer.budget) + "\n")
                stream.flush()

        stopped, failure, mid_step = run.loop(trainer, report)
        final, failure = run.finish(trainer, evaluator, spec, stopped, failure, mid_step)
    finally:
        if evaluator is not None:
            evaluator.close()
        if run is not None:
            run.lock.release()
        elif resume is not None:  # failed before the run was reopened
            resume.lock.release()
    if not quiet:
        if stopped is not None:
            stream.write(
                f"stopped: checkpoint at {trainer.STEP} {run.checkpoints.step}; "
                f"continue with python -m evolstm.run --resume {run.dir.path}\n"
            )
        for name, result in final.items():
            stream.write(
                f"{name}: mean return {result['mean_return']:.3f} ± {result['std_return']:.3f} "
                f"over {result['episodes']} fresh episodes\n"
            )
        stream.write(f"done in {run.elapsed:.1f}s, {trainer.env_steps:,} env steps: {run.dir.path}\n")
    if stopped is not None:
        raise RunStopped(stopped)
    if failure:
        raise RunFailed(run.dir.path, failure) from failure
    return run.dir
