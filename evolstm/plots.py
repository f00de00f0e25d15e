"""python -m evolstm.plots RUN_DIR... [--out FILE] [--metric greedy]: learning-curve figures, runs grouped by
experiment (seeds pooled into a mean and a min–max band)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import yaml

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402

from evolstm import cli  # noqa: E402
from evolstm.atomic import write_bytes  # noqa: E402
from evolstm.config import flat_fields  # noqa: E402
from evolstm.runs import read_metrics  # noqa: E402

Rows = list[dict[str, Any]]
X_AXES = (("step", "generation / iteration"), ("env_steps", "env steps"), ("wall_time", "wall time (s)"))
Y_LABELS = {"greedy": "greedy return (ES: search center)"}
#: names that stand for whichever of these keys a trainer's rows have (ES: generation, center; REINFORCE: iteration,
#: greedy)
ALIASES = {"step": ("generation", "iteration"), "greedy": ("center", "greedy")}


def value(row: dict[str, Any], key: str) -> Any:
    """A row's value for `key`, or for the trainer's own name of it (see ALIASES); None where it has none."""
    for name in ALIASES.get(key, (key,)):
        if row.get(name) is not None:
            return row[name]
    return None


class RunReadError(ValueError):
    """A run directory that is missing or whose config.yaml / metrics.jsonl cannot be read."""


def _read_run(run_dir: Path) -> tuple[dict[str, Any], Rows]:
    """The run's resolved config and metric rows, or RunReadError naming the path."""
    if not run_dir.is_dir():
        raise RunReadError(f"{run_dir}: no such run directory")
    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        rows = read_metrics(run_dir)
    except (OSError, ValueError, yaml.YAMLError) as err:  # ValueError covers bad JSON and bad UTF-8
        raise RunReadError(f"{run_dir}: cannot read run ({str(err).splitlines()[0]})") from err
    if not isinstance(config, dict) or "name" not in config:
        raise RunReadError(f"{run_dir}: config.yaml is not an experiment config")
    return config, rows


def _label(config: dict[str, Any], experiments: list[dict[str, Any]]) -> str:
    """The experiment name, plus the fields that differ among the experiments sharing that name."""
    same_name = [flat_fields(e) for e in experiments if e["name"] == config["name"]]
    if len(same_name) == 1:
        return str(config["name"])
    keys = dict.fromkeys(key for flat in same_name for key in flat)
    differing = [key for key in keys if any(flat.get(key) != same_name[0].get(key) for flat in same_name)]
    mine = flat_fields(config)
    return f"{config['name']} (" + ", ".join(f"{key}={mine.get(key)}" for key in differing) + ")"


def group_runs(run_dirs: list[Path]) -> dict[str, list[Rows]]:
    """Metric rows of each run, grouped by experiment (configs equal but for `seed`), in first-seen order."""
    experiments: list[dict[str, Any]] = []
    runs: list[list[Rows]] = []
    for run_dir in run_dirs:
        config, rows = _read_run(Path(run_dir))
        experiment = {key: value for key, value in config.items() if key != "seed"}
        if experiment in experiments:
            runs[experiments.index(experiment)].append(rows)
        else:
            experiments.append(experiment)
            runs.append([rows])
    return {_label(experiment, experiments): group for experiment, group in zip(experiments, runs)}


def aggregate(curves: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mean, min and max across runs on `grid`: linear between points, first/last value held before/after a run."""
    values = np.array([np.interp(grid, x, y) for x, y in curves])
    return values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def _curve(rows: Rows, x_key: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """One run's (x, metric) points, skipping rows where the metric was not evaluated."""
    points = [row for row in rows if value(row, metric) is not None]
    return np.array([value(row, x_key) for row in points], float), np.array(
        [value(row, metric) for row in points], float
    )


def _grid(curves: list[tuple[np.ndarray, np.ndarray]], x_key: str) -> np.ndarray:
    """Common x values for a group's runs: every step, or 200 points up to the furthest run."""
    end = max(x.max() for x, _ in curves)
    return np.arange(int(end) + 1, dtype=float) if x_key == "step" else np.linspace(0.0, end, 200)


def plot_learning_curves(groups: dict[str, list[Rows]], path: Path, metric: str = "greedy") -> None:
    """PNG of `metric` vs training step, env steps and wall time; a group of seeds is drawn as mean in a min–max band."""
    if not any(value(row, metric) is not None for runs in groups.values() for rows in runs for row in rows):
        raise ValueError(f"no run has a value for metric {metric!r}")
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.5), sharey=True)
    for axis, (x_key, x_label) in zip(axes, X_AXES):
        for index, (label, runs) in enumerate(groups.items()):
            curves = [curve for curve in (_curve(rows, x_key, metric) for rows in runs) if curve[0].size]
            color = f"C{index % 10}"
            if len(curves) == 1:
                axis.plot(*curves[0], color=color, label=label)
            elif curves:
                grid = _grid(curves, x_key)
                mean, low, high = aggregate(curves, grid)
                axis.plot(grid, mean, color=color, label=f"{label} ({len(curves)} seeds, band: min–max)")
                axis.fill_between(grid, low, high, color=color, alpha=0.2, linewidth=0)
        axis.set_xlabel(x_label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(Y_LABELS.get(metric, metric))
    axes[0].legend(fontsize="small")
    figure.tight_layout()
    save_png(figure, path)


def save_png(figure: Any, path: Path, dpi: int = 100) -> None:
    """Write a matplotlib figure as a PNG (atomically) and close it."""
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=dpi)
    plt.close(figure)
    write_bytes(path, image.getvalue())


def main(argv: list[str] | None = None) -> int:
    """One learning-curve PNG for the given runs; exit 2 with one line on a user mistake."""
    parser = cli.ArgumentParser(prog="python -m evolstm.plots", description=__doc__)
    parser.add_argument("runs", type=Path, nargs="+", help="run directories")
    parser.add_argument("--out", type=Path, default=Path("learning-curves.png"), help="PNG file to write")
    parser.add_argument(
        "--metric",
        default="greedy",
        help="metric to plot (greedy: the center's or the greedy policy's return; best, mean, ...)",
    )
    args = parser.parse_args(argv)
    try:
        groups = group_runs(args.runs)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        plot_learning_curves(groups, args.out, args.metric)
    except (RunReadError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
