"""python -m evolstm.compare A.yaml B.yaml ... : run experiments and write one comparison table and figure.

Made for ES against REINFORCE on the same task and network: every run's greedy return (ES: the search center;
REINFORCE: the current policy acting greedily) is plotted against training steps, env steps and wall time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from evolstm import cli, config
from evolstm.atomic import write_text
from evolstm.config import ConfigError
from evolstm.plots import plot_learning_curves, value
from evolstm.runs import new_folder
from evolstm.stopping import RunStopped
from evolstm.training import FAILURES, USER_MISTAKES, train
from evolstm.runs import read_metrics


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


def main(argv: list[str] | None = None) -> int:
    """Run each experiment (same --set overrides for all), then write comparison.{md,json,png}."""
    parser = cli.ArgumentParser(prog="python -m evolstm.compare", description=__doc__)
    parser.add_argument("experiments", type=Path, nargs="+", help="experiment YAML files")
    parser.add_overrides("override a field in every experiment, e.g. --set seed=1")
    parser.add_argument("--out", type=Path, default=Path("comparisons"), help="parent folder (default: comparisons)")
    args = parser.parse_args(argv)
    try:
        experiments = [config.load(path, tuple(args.overrides)) for path in args.experiments]
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        folder = new_folder(args.out, "comparison")
        runs = [train(experiment, folder / "runs") for experiment in experiments]
    except OSError as err:
        print(f"error: --out {args.out}: cannot make a folder there ({err.strerror or err})", file=sys.stderr)
        return 2
    except USER_MISTAKES as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FAILURES as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RunStopped as stop:
        return 128 + stop.signum
    rows = [summarize(run.path) for run in runs]
    write_text(folder / "comparison.json", json.dumps(rows, indent=2) + "\n")
    write_text(folder / "comparison.md", markdown_table(rows))
    curves = {row["experiment"]: [read_metrics(run.path)] for row, run in zip(rows, runs)}
    plot_learning_curves(curves, folder / "comparison.png")
    print(markdown_table(rows))
    print(f"comparison written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
