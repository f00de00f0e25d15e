"""python -m evolstm.run EXPERIMENT.yaml [--set key.path=value ...] [--out DIR]: train and write a run directory.
python -m evolstm.run EXPERIMENT.yaml --seeds 0-4 [--ray]: one run per seed, and their results pooled in one folder.
python -m evolstm.run --resume RUN_DIR [--set key.path=value ...] [--allow-change]: continue it from its checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

from evolstm import cli, config, seeds
from evolstm.compare import run_seeds
from evolstm.resume import resume_target
from evolstm.runs import default_out_root
from evolstm.stopping import RunStopped
from evolstm.training import FAILURES, USER_MISTAKES, train


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: exit 0 on success, 2 on a user mistake, 1 when an env or the training fails (one line on
    stderr each), 128 + the signal number when stopped by SIGINT (130) or SIGTERM (143)."""
    parser = cli.ArgumentParser(prog="python -m evolstm.run", description=__doc__)
    parser.add_argument("experiment", type=Path, nargs="?", help="experiment YAML file (see experiments/)")
    parser.add_overrides("override one field, e.g. --set trainer.popsize=32 (repeatable)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for run directories (default: $EVOLSTM_OUT, or ~/evolstm-runs inside a Ray job, or ./runs)",
    )
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    parser.add_argument(
        "--allow-change",
        action="store_true",
        help="on resume, accept changes to the budget fields (trainer.generations, ...)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the run directory (no progress display)")
    seeds.add_seed_options(parser, ray_help="with --seeds, train the seeds in parallel")
    args = parser.parse_args(argv)
    if args.experiment is None and args.resume is None:
        parser.error("give an experiment YAML file, or --resume RUN_DIR")
    if args.seeds is not None and args.resume:
        parser.error("--seeds starts new runs; resume each seed's run with --resume RUN_DIR")
    if args.ray and args.seeds is None:
        parser.error("--ray trains the seeds of --seeds as Ray tasks; give --seeds too (or evaluation.backend: ray)")
    try:
        if args.resume:
            experiment, resume = resume_target(args.resume, args.experiment, tuple(args.overrides), args.allow_change)
            train(experiment, args.resume.parent, quiet=args.quiet, resume=resume)
        elif args.seeds is not None:
            experiment = config.load(args.experiment, tuple(args.overrides))
            results = run_seeds(experiment, args.seeds, args.out or default_out_root(), args.ray, args.quiet)
            print(results.folder if args.quiet else f"{results.table}\nseeds written to {results.folder}")
        else:
            train(config.load(args.experiment, tuple(args.overrides)), args.out or default_out_root(), quiet=args.quiet)
    except USER_MISTAKES as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FAILURES as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RunStopped as stop:
        return 128 + stop.signum
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
