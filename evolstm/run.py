"""python -m evolstm.run EXPERIMENT.yaml [--set key.path=value ...] [--out DIR]: train and write a run directory.
python -m evolstm.run --resume RUN_DIR [--set key.path=value ...] [--allow-change]: continue it from its checkpoint."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from evolstm import cli, config
from evolstm.checkpoints import CheckpointError, load_checkpoint
from evolstm.config import ConfigError, Experiment
from evolstm.environment import make_env
from evolstm.evaluation import Evaluator, make_evaluator
from evolstm.policies import Policy, PolicySpec
from evolstm.policy_files import save_policy
from evolstm.resume import Checkpoints, check_changes, config_changes, restore_run, unsafe_changes
from evolstm.rollout import EpisodeError
from evolstm.runs import RunDir
from evolstm.seeding import final_episode_seeds
from evolstm.stopping import RunStopped, StopRequests
from evolstm.trainers import Exported, Trainer, make_trainer
from evolstm.trainers.base import DivergedError


def policy_spec(experiment: Experiment) -> PolicySpec:
    """The policy spec for the experiment's task spaces (raises ConfigError if the spaces are unsupported)."""
    env = make_env(experiment.task)
    try:
        return PolicySpec.for_spaces(
            experiment.policy.kind, experiment.policy.hidden, experiment.policy.layers,
            env.observation_space, env.action_space,
        )
    except ValueError as err:
        raise ConfigError(f"task: {experiment.task.id} is not supported ({err})") from None
    finally:
        env.close()


def _trainer_label(experiment: Experiment) -> str:
    """es:<algorithm> or reinforce."""
    trainer = experiment.trainer
    return f"es:{trainer.algorithm}" if trainer.kind == "es" else trainer.kind


def _progress(row: dict[str, Any], total: int | None, out: TextIO) -> None:
    """One progress line: generation, returns, env steps, wall time."""

    def number(key: str) -> str:
        return f"{row[key]:9.3f}" if row.get(key) is not None else f"{'-':>9}"

    center = f" center {number('center')}" if "center" in row else ""
    budget = f"/{total}" if total else ""
    out.write(
        f"gen {row['generation'] + 1:>5}{budget} | best {number('best')} mean {number('mean')}{center}"
        f" | steps {row['env_steps']:>10,} | {row['wall_time']:7.1f}s\n"
    )
    out.flush()


def final_evaluation(
    experiment: Experiment, evaluator: Evaluator, exported: dict[str, Exported]
) -> dict[str, dict[str, float]]:
    """Mean and std of the return of each exported policy over the same `final_episodes` fresh episodes."""
    episodes = experiment.evaluation.final_episodes
    result: dict[str, dict[str, float]] = {}
    for name, policy in exported.items():
        if episodes == 0:
            continue
        seeds = final_episode_seeds(experiment.seed, episodes)
        returns = evaluator.evaluate(policy.params.unsqueeze(0), seeds, policy.norm).returns[0]
        result[name] = {"mean_return": float(returns.mean()), "std_return": float(returns.std()), "episodes": episodes}
    return result


@dataclass
class Resume:
    """A run to continue: its directory and the checkpoint state loaded from it."""

    run: RunDir
    state: dict[str, Any]


def _open_run(
    experiment: Experiment, out_root: Path, trainer: Trainer, resume: Resume | None
) -> tuple[RunDir, int, float, bool]:
    """(run directory, metric rows so far, seconds so far, whether it is complete already): a new run, or the resumed
    one brought back to its checkpoint (trainer state restored, metric rows after the checkpoint dropped)."""
    if resume is None:
        try:
            run = RunDir.create(out_root, experiment.name)
        except OSError as err:
            raise ConfigError(f"--out {out_root}: cannot make a run directory there ({err.strerror or err})") from None
        run.write_config(config.to_dict(experiment))
        return run, 0, 0.0, False
    run, rows = resume.run, resume.state["metrics_rows"]
    try:
        restore_run(trainer, resume.state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise CheckpointError(f"{run.checkpoint_path}: cannot restore the run from it ({err})") from None
    complete = trainer.finished() and run.completed()
    if not complete:
        try:
            run.keep_metrics(rows)
        except (OSError, ValueError) as err:
            raise CheckpointError(f"{run.path}: metrics do not match the checkpoint ({err})") from None
        run.write_config(config.to_dict(experiment))
    return run, rows, resume.state["wall_time"], complete


def _write_results(
    experiment: Experiment, run: RunDir, spec: PolicySpec, trainer: Trainer, evaluator: Evaluator,
    evaluate: bool, summary: dict[str, Any],
) -> dict[str, dict[str, float]]:
    """Export the trainer's policies, evaluate them on fresh episodes (if `evaluate`) and write the summary."""
    exported = trainer.exports()
    info = {  # enough to replay the policy from its file alone, on the run's final-evaluation episodes
        "experiment": experiment.name, "task": config.to_dict(experiment)["task"], "seed": experiment.seed,
        "final_episodes": experiment.evaluation.final_episodes,
    }
    for name, policy in exported.items():
        save_policy(run.policy_path(name), spec, policy.params, policy.norm, {**info, "policy": name})
    final = final_evaluation(experiment, evaluator, exported) if evaluate else {}
    run.write_summary({
        "name": experiment.name, "task": experiment.task.id, "policy": spec.kind,
        "trainer": _trainer_label(experiment),
        "generations": trainer.generation, "env_steps": trainer.env_steps, "threads": experiment.threads,
        **summary, "final_evaluation": final,
    })
    return final


def train(
    experiment: Experiment, out_root: Path, stream: TextIO | None = None, quiet: bool = False,
    resume: Resume | None = None,
) -> RunDir:
    """Run an experiment end to end, or continue one from its checkpoint; everything that can fail on user input
    fails before the run folder exists (or, on resume, before anything in it changes)."""
    stream = stream or sys.stdout
    torch.set_num_threads(experiment.threads)
    torch.manual_seed(experiment.seed)
    np.random.seed(experiment.seed)
    spec = policy_spec(experiment)
    init = Policy(spec).flat()
    evaluator = make_evaluator(experiment, spec)
    trainer: Trainer = make_trainer(experiment, evaluator, spec, init)
    try:
        run, rows, elapsed, complete = _open_run(experiment, out_root, trainer, resume)
    except (CheckpointError, ConfigError):
        evaluator.close()
        raise
    if complete:
        evaluator.close()
        budget = "generations" if experiment.trainer.kind == "es" else "iterations"
        stream.write(f"{run.path}: already finished at {trainer.STEP} {trainer.generation}; to go on, raise the "
                     f"budget (e.g. --set trainer.{budget}=N --allow-change)\n")
        return run
    if not quiet:
        where = f"resuming at generation {trainer.generation}" if resume else "run dir"
        stream.write(
            f"evolstm: {experiment.name} | {experiment.task.id} | {spec.kind} ({init.numel():,} parameters) | "
            f"{_trainer_label(experiment)} | {where} {run.path}\n"
        )
    checkpoints = Checkpoints(run, experiment)
    if resume is None:
        checkpoints.save(trainer, rows, elapsed)
    else:
        checkpoints.generation = trainer.generation
    start = time.perf_counter() - elapsed
    stopped: int | None = None
    failure: Exception | None = None
    mid_step = False  # whether the loop was left in the middle of a step (its state is then not saved)
    with StopRequests() as stop:
        try:
            while not trainer.finished() and stop.signum is None:
                row = trainer.step()
                row["wall_time"] = time.perf_counter() - start
                run.append_metrics(row)
                rows += 1
                for warning in trainer.warnings:
                    print(f"warning: {warning}", file=sys.stderr)
                trainer.warnings.clear()
                if not quiet and (row["generation"] % experiment.log_every == 0 or trainer.finished()):
                    _progress(row, experiment.trainer.budget, stream)
                checkpoints.save_periodic(trainer, rows, time.perf_counter() - start)
            stopped = stop.signum
        except KeyboardInterrupt:  # a second signal: stop now; the state is mid-step, the last checkpoint stays
            stopped, mid_step = stop.last or signal.SIGINT, True
        except (EpisodeError, DivergedError) as err:  # the env or the training failed: keep what the run has
            failure, mid_step = err, True
    wall = time.perf_counter() - start
    if not mid_step and checkpoints.generation != trainer.generation:
        checkpoints.save(trainer, rows, wall)
    final = _write_results(experiment, run, spec, trainer, evaluator, stopped is None and failure is None, {
        "parameters": init.numel(), "wall_time": wall, "interrupted": stopped is not None,
        "error": str(failure) if failure else None,
        "checkpoint": {"generation": checkpoints.generation, "writes": checkpoints.writes,
                       "seconds": checkpoints.seconds},
    })
    evaluator.close()
    if not quiet:
        if stopped is not None:
            stream.write(f"stopped: checkpoint at generation {checkpoints.generation}; "
                         f"continue with python -m evolstm.run --resume {run.path}\n")
        for name, result in final.items():
            stream.write(
                f"{name}: mean return {result['mean_return']:.3f} ± {result['std_return']:.3f} "
                f"over {result['episodes']} fresh episodes\n"
            )
        stream.write(f"done in {wall:.1f}s, {trainer.env_steps:,} env steps: {run.path}\n")
    if stopped is not None:
        raise RunStopped(stopped)
    if failure:
        raise failure
    return run


def _resume_target(args: argparse.Namespace) -> tuple[Experiment, Resume]:
    """The config to continue with and the loaded checkpoint; ConfigError/CheckpointError for a user mistake."""
    run = RunDir(args.resume)
    if not run.config_path.is_file():
        raise ConfigError(f"{args.resume}: not a run directory (no config.yaml)")
    stored = config.load(run.config_path)
    source = args.experiment or run.config_path
    experiment = config.load(source, tuple(args.overrides)) if args.experiment or args.overrides else stored
    check_changes(stored, experiment, args.allow_change)
    state = load_checkpoint(run.checkpoint_path)
    try:
        written_by = config.from_dict(state["config"])
    except (KeyError, ConfigError):
        raise CheckpointError(f"{run.checkpoint_path}: does not say which run wrote it") from None
    foreign = unsafe_changes(stored, config_changes(stored, written_by))
    if foreign:
        raise CheckpointError(f"{run.checkpoint_path}: written by a different run ({', '.join(foreign)} differ)")
    return experiment, Resume(run, state)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: exit 0 on success, 2 on a user mistake, 1 when an env or the training fails (one line on
    stderr each), 128 + the signal number when stopped by SIGINT (130) or SIGTERM (143)."""
    parser = cli.ArgumentParser(prog="python -m evolstm.run", description=__doc__)
    parser.add_argument("experiment", type=Path, nargs="?", help="experiment YAML file (see experiments/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override one field, e.g. --set trainer.popsize=32 (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="folder for run directories (default: runs)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    parser.add_argument("--allow-change", action="store_true",
                        help="on resume, accept changes to the budget fields (trainer.generations, ...)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    args = parser.parse_args(argv)
    if args.experiment is None and args.resume is None:
        parser.error("give an experiment YAML file, or --resume RUN_DIR")
    try:
        if args.resume:
            experiment, resume = _resume_target(args)
            train(experiment, args.resume.parent, quiet=args.quiet, resume=resume)
        else:
            train(config.load(args.experiment, tuple(args.overrides)), args.out, quiet=args.quiet)
    except (ConfigError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (EpisodeError, DivergedError) as err:
        print(f"error: {err} (the run directory keeps the results so far)", file=sys.stderr)
        return 1
    except RunStopped as stop:
        return 128 + stop.signum
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
