"""python -m evolstm.run EXPERIMENT.yaml [--set key.path=value ...] [--out DIR]: train and write a run directory."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from evolstm import config
from evolstm.config import ConfigError, Experiment
from evolstm.environment import make_env
from evolstm.evaluation import Evaluator, make_evaluator
from evolstm.policies import Policy, PolicySpec
from evolstm.policy_files import save_policy
from evolstm.rollout import EpisodeError
from evolstm.runs import RunDir
from evolstm.seeding import final_episode_seeds
from evolstm.trainers import Exported, Trainer, make_trainer


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
    center = f" center {row['center']:9.3f}" if "center" in row else ""
    budget = f"/{total}" if total else ""
    out.write(
        f"gen {row['generation'] + 1:>5}{budget} | best {row['best']:9.3f} mean {row['mean']:9.3f}{center}"
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


def train(experiment: Experiment, out_root: Path, stream: TextIO | None = None, quiet: bool = False) -> RunDir:
    """Run an experiment end to end; everything that can fail on user input fails before the run folder exists."""
    stream = stream or sys.stdout
    torch.set_num_threads(experiment.threads)
    torch.manual_seed(experiment.seed)
    np.random.seed(experiment.seed)
    spec = policy_spec(experiment)
    init = Policy(spec).flat()
    evaluator = make_evaluator(experiment, spec)
    trainer: Trainer = make_trainer(experiment, evaluator, spec, init)
    run = RunDir.create(out_root, experiment.name)
    run.write_config(config.to_dict(experiment))
    if not quiet:
        stream.write(
            f"evolstm: {experiment.name} | {experiment.task.id} | {spec.kind} ({init.numel():,} parameters) | "
            f"{_trainer_label(experiment)} | run dir {run.path}\n"
        )
    start = time.perf_counter()
    interrupted = False
    failure: EpisodeError | None = None
    try:
        while not trainer.finished():
            row = trainer.step()
            row["wall_time"] = time.perf_counter() - start
            run.append_metrics(row)
            last = trainer.finished()
            if not quiet and (row["generation"] % experiment.log_every == 0 or last):
                _progress(row, experiment.trainer.budget, stream)
    except KeyboardInterrupt:
        interrupted = True
        stream.write("interrupted: exporting the policies so far\n")
    except EpisodeError as err:  # the env failed, not evolstm: keep what the run has, then report it
        failure = err
    wall = time.perf_counter() - start
    exported = trainer.exports()
    info = {  # enough to replay the policy from its file alone, on the run's final-evaluation episodes
        "experiment": experiment.name, "task": config.to_dict(experiment)["task"], "seed": experiment.seed,
        "final_episodes": experiment.evaluation.final_episodes,
    }
    for name, policy in exported.items():
        save_policy(run.policy_path(name), spec, policy.params, policy.norm, {**info, "policy": name})
    final = {} if interrupted or failure else final_evaluation(experiment, evaluator, exported)
    evaluator.close()
    summary = {
        "name": experiment.name, "task": experiment.task.id, "policy": spec.kind, "parameters": init.numel(),
        "trainer": _trainer_label(experiment),
        "generations": trainer.generation, "env_steps": trainer.env_steps, "wall_time": wall,
        "threads": experiment.threads, "interrupted": interrupted, "final_evaluation": final,
        "error": str(failure) if failure else None,
    }
    run.write_summary(summary)
    if not quiet:
        for name, result in final.items():
            stream.write(
                f"{name}: mean return {result['mean_return']:.3f} ± {result['std_return']:.3f} "
                f"over {result['episodes']} fresh episodes\n"
            )
        stream.write(f"done in {wall:.1f}s, {trainer.env_steps:,} env steps: {run.path}\n")
    if interrupted:
        raise KeyboardInterrupt
    if failure:
        raise failure
    return run


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: exit 0 on success, 2 on a user mistake, 1 when an env fails (one line on stderr each),
    130 on Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m evolstm.run", description=__doc__)
    parser.add_argument("experiment", type=Path, help="experiment YAML file (see experiments/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override one field, e.g. --set trainer.popsize=32 (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="folder for run directories (default: runs)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    args = parser.parse_args(argv)
    try:
        experiment = config.load(args.experiment, tuple(args.overrides))
        train(experiment, args.out, quiet=args.quiet)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except EpisodeError as err:
        print(f"error: {err} (the run directory keeps the results so far)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
