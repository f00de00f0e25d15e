"""python -m evolstm.compare A.yaml B.yaml ... : run experiments and write one comparison table and figure.

Made for ES against REINFORCE on the same task and network: every run's greedy return (ES: the search center;
REINFORCE: the current policy acting greedily) is plotted against training steps, env steps and wall time. With
--seeds, every experiment runs once per seed and its row and curve pool its seeds; with --ray the runs are Ray tasks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolstm import cli, config, seeds
from evolstm.atomic import write_text
from evolstm.config import ConfigError, Experiment
from evolstm.plots import plot_learning_curves, value
from evolstm.runs import default_out_root, new_folder, read_metrics
from evolstm.stopping import RunStopped
from evolstm.training import FAILURES, USER_MISTAKES


@dataclass(frozen=True)
class Results:
    """What a comparison (or a seeds folder) holds: its folder, the run directories in run order, the data of its JSON
    file and its Markdown table."""

    folder: Path
    run_dirs: list[Path]
    data: Any
    table: str


def summarize(run_path: Path) -> dict[str, Any]:
    """One comparison row from a finished run directory."""
    summary = json.loads((run_path / "summary.json").read_text())
    rows = read_metrics(run_path)
    evaluated = [r for r in rows if value(r, "greedy") is not None]
    peak = max(evaluated, key=lambda r: value(r, "greedy")) if evaluated else None
    return {
        "experiment": summary["name"],
        "trainer": summary["trainer"],
        "policy": summary["policy"],
        "parameters": summary["parameters"],
        "steps": summary.get("generations", summary.get("iterations")),
        "env_steps": summary["env_steps"],
        "wall_time": round(summary["wall_time"], 2),
        "peak_greedy_return": round(value(peak, "greedy"), 3) if peak else None,
        "env_steps_to_peak": peak["env_steps"] if peak else None,
        "wall_time_to_peak": round(peak["wall_time"], 2) if peak else None,
        **{f"fresh_return_{name}": round(r["mean_return"], 3) for name, r in summary["final_evaluation"].items()},
        "run_dir": str(run_path),
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (columns: the union of the rows' keys, in first-seen order)."""
    columns = list(dict.fromkeys(key for row in rows for key in row if key != "run_dir"))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if row.get(c) is None else str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def overrides_for(
    paths: Sequence[Path], common: Sequence[str], per_experiment: Sequence[Sequence[str]]
) -> list[tuple[str, ...]]:
    """Each experiment file's overrides: the common `--set` ones, then its own `--set-for EXPERIMENT KEY=VALUE` ones,
    EXPERIMENT being the path as given, its file name or its stem; ConfigError if it names none or several."""
    own = [list(common) for _ in paths]
    for target, assignment in per_experiment:
        matches = [i for i, path in enumerate(paths) if Path(target) == path or target in (path.name, path.stem)]
        if len(matches) != 1:
            files = ", ".join(str(paths[i]) for i in matches or range(len(paths)))
            how = "matches none of the experiments" if not matches else "matches several experiments; give the path"
            raise ConfigError(f"--set-for {target}: {how} ({files})")
        own[matches[0]].append(assignment)
    return [tuple(overrides) for overrides in own]


def load_experiment(path: Path, overrides: Sequence[str] = (), on_ray: bool = False) -> Experiment:
    """config.load, with a ConfigError naming the file (`B.yaml: trainer.generations: unknown key`); on_ray: also
    refuse an experiment that cannot run as one Ray task."""
    try:
        experiment = config.load(path, tuple(overrides))
        if on_ray:
            seeds.check_ray_task(experiment)
    except ConfigError as err:
        message = str(err)
        raise ConfigError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None
    return experiment


def _labels(names: Sequence[str]) -> list[str]:
    """Curve labels: the experiment names, a repeated name numbered (#2, #3, ...) so no curve hides another."""
    return [
        name if names[:i].count(name) == 0 else f"{name} #{names[:i].count(name) + 1}" for i, name in enumerate(names)
    ]


def _train(
    experiments: Sequence[Experiment], out_root: Path, name: str, on_ray: bool, quiet: bool
) -> tuple[Path, list[Path]]:
    """A new folder `out_root/name-<time>` with the experiments' runs under runs/ (nothing else yet). If the runs fail
    before any run directory is written, the then empty folder is removed again."""
    try:
        folder = new_folder(out_root, name)
    except OSError as err:
        raise ConfigError(f"--out {out_root}: cannot make a folder there ({err.strerror or err})") from None
    try:
        run_dirs = seeds.train_runs(experiments, folder / "runs", on_ray, quiet)
    except BaseException:
        for empty in (folder / "runs", folder):
            try:
                empty.rmdir()  # only ever removes an empty folder
            except FileNotFoundError:
                continue
            except OSError:
                break
        raise
    return folder, run_dirs


def _write(
    folder: Path, run_dirs: list[Path], stem: str, data: Any, rows: list[dict[str, Any]], curves: dict[str, list]
) -> Results:
    """Write stem.json (data), stem.md (rows as a table) and stem.png (curves) into the folder."""
    table = markdown_table(rows)
    write_text(folder / f"{stem}.json", json.dumps(data, indent=2) + "\n")
    write_text(folder / f"{stem}.md", table)
    plot_learning_curves(curves, folder / f"{stem}.png")
    return Results(folder, run_dirs, data, table)


def run_comparison(
    experiments: Sequence[Experiment],
    out_root: Path,
    seed_list: Sequence[int] | None = None,
    on_ray: bool = False,
    quiet: bool = False,
) -> Results:
    """Run each experiment (once, or once per seed of `seed_list`) into `out_root/comparison-<time>/runs/` and write
    comparison.{json,md,png}: a row per run, or with seeds one pooled row per experiment (seeds.pool) whose curve
    pools its seeds."""
    groups = [seeds.seeded(e, seed_list) if seed_list is not None else [e] for e in experiments]
    folder, run_dirs = _train([e for group in groups for e in group], out_root, "comparison", on_ray, quiet)
    each = iter(run_dirs)
    runs = [[(e.seed, next(each)) for e in group] for group in groups]
    labels = _labels([e.name for e in experiments])
    curves = {label: [read_metrics(path) for _, path in group] for label, group in zip(labels, runs)}
    if seed_list is None:
        rows = [summarize(path) for path in run_dirs]
        return _write(folder, run_dirs, "comparison", rows, rows, curves)
    pooled = [seeds.pool([{"seed": seed, **summarize(path)} for seed, path in group]) for group in runs]
    return _write(folder, run_dirs, "comparison", pooled, [seeds.pooled_cells(row) for row in pooled], curves)


def run_seeds(
    experiment: Experiment, seed_list: Sequence[int], out_root: Path, on_ray: bool = False, quiet: bool = False
) -> Results:
    """Run the experiment once per seed into `out_root/<name>-seeds-<time>/runs/` and write seeds.json (the pooled row,
    the per-seed rows under `runs`), seeds.md (a row per seed, then the pooled one) and seeds.png (the pooled curve)."""
    experiments = seeds.seeded(experiment, seed_list)
    folder, run_dirs = _train(experiments, out_root, f"{experiment.name}-seeds", on_ray, quiet)
    rows = [{"seed": e.seed, **summarize(path)} for e, path in zip(experiments, run_dirs)]
    pooled = seeds.pool(rows)
    cells = seeds.pooled_cells(pooled)
    table = [*rows, {"seed": cells.pop("seeds"), **cells}]
    curves = {experiment.name: [read_metrics(path) for path in run_dirs]}
    return _write(folder, run_dirs, "seeds", pooled, table, curves)


def main(argv: list[str] | None = None) -> int:
    """Run each experiment (the common --set overrides, then its own --set-for ones), once or once per seed, then
    write comparison.{md,json,png}."""
    parser = cli.ArgumentParser(prog="python -m evolstm.compare", description=__doc__)
    parser.add_argument("experiments", type=Path, nargs="+", help="experiment YAML files")
    parser.add_overrides("override a field in every experiment, e.g. --set seed=1")
    parser.add_argument(
        "--set-for",
        nargs=2,
        action="append",
        default=[],
        metavar=("EXPERIMENT", "KEY.PATH=VALUE"),
        help="override a field in one experiment (its path as given, file name or stem), after --set; e.g. "
        "--set-for tmaze-reinforce trainer.iterations=50 (repeatable)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="parent folder (default: $EVOLSTM_OUT, or ~/evolstm-runs inside a Ray job, or ./comparisons)",
    )
    seeds.add_seed_options(parser, ray_help="train the runs in parallel")
    args = parser.parse_args(argv)
    try:
        overrides = overrides_for(args.experiments, args.overrides, args.set_for)
        experiments = [load_experiment(path, own, args.ray) for path, own in zip(args.experiments, overrides)]
        results = run_comparison(experiments, args.out or default_out_root("comparisons"), args.seeds, args.ray)
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
    print(results.table)
    print(f"comparison written to {results.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
