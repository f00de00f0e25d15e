"""Several seeds of an experiment: the `--seeds 0-4` / `--seeds 0,3,7` spec, the seeded experiments, training them one
after another or as Ray tasks (`--ray`), and pooling their result rows (mean, std, min, max across seeds).

Each seed is the experiment with `seed` overridden through `config.from_dict`, the path `--set seed=N` takes, so a
seeded experiment is validated exactly as one loaded with that override.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from evolstm import config
from evolstm.config import ConfigError, Experiment
from evolstm.stopping import RunStopped, StopRequests
from evolstm.training import FAILURES, USER_MISTAKES, RunFailed, train

#: at most this many seeds in one spec (a typo such as 0-100000 is refused, not started)
MAX_SEEDS = 1000
#: one comma-separated part of a spec: a seed or an inclusive range of seeds (ASCII digits only)
SPEC_PART = re.compile(r"([0-9]+)(?:-([0-9]+))?")
#: seeds are 32-bit, as the experiment's `seed` field
SEED_LIMIT = 2**32
#: the columns of compare.summarize rows that are pooled across seeds (and every fresh_return_<policy> column)
POOLED = ("peak_greedy_return", "env_steps", "wall_time")
#: seconds to wait, after a stop signal, for cancelled Ray tasks to write their runs' summaries
CANCEL_WAIT = 60.0


def parse_seeds(spec: str) -> tuple[int, ...]:
    """The seeds of a spec such as `0-4` (inclusive), `0,3,7` or `0-2,5`, in the order given; ValueError (one line)
    for anything else, a seed given twice, or more than MAX_SEEDS seeds."""
    seeds: list[int] = []
    for part in spec.split(","):
        match = SPEC_PART.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"{spec!r}: expected seeds such as 0-4, 0,3,7 or 0-2,5")
        first = int(match[1])
        last = int(match[2]) if match[2] else first
        if last < first:
            raise ValueError(f"{spec!r}: the range {first}-{last} runs backwards (write {last}-{first})")
        if last >= SEED_LIMIT:
            raise ValueError(f"{spec!r}: seeds must be below 2**32")
        if len(seeds) + last - first + 1 > MAX_SEEDS:
            raise ValueError(f"{spec!r}: more than {MAX_SEEDS} seeds")
        seeds.extend(range(first, last + 1))
    seen: set[int] = set()
    for seed in seeds:
        if seed in seen:
            raise ValueError(f"{spec!r}: seed {seed} is given twice")
        seen.add(seed)
    return tuple(seeds)


def format_seeds(seeds: Sequence[int]) -> str:
    """The shortest spec parse_seeds reads back to `seeds` (runs of consecutive seeds as ranges): 0-2,5."""
    parts: list[str] = []
    start = 0
    for index in range(1, len(seeds) + 1):
        if index == len(seeds) or seeds[index] != seeds[index - 1] + 1:
            first, last = seeds[start], seeds[index - 1]
            parts.append(str(first) if first == last else f"{first}-{last}")
            start = index
    return ",".join(parts)


def _seeds_argument(spec: str) -> tuple[int, ...]:
    """argparse type for --seeds: a bad spec becomes argparse's one-line usage error."""
    try:
        return parse_seeds(spec)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_seed_options(parser: argparse.ArgumentParser, ray_help: str) -> None:
    """The `--seeds SPEC` and `--ray` options (collected in `seeds`, None when not given, and `ray`)."""
    parser.add_argument(
        "--seeds",
        type=_seeds_argument,
        metavar="SPEC",
        help="run every experiment once per seed (overriding `seed`) and pool the results: "
        "0-4 (a range, inclusive), 0,3,7 (a list) or both, e.g. 0-2,5",
    )
    parser.add_argument(
        "--ray",
        action="store_true",
        help=f"{ray_help}: one Ray task per run, asking for the experiment's `threads` CPUs, on the cluster its "
        "`ray:` section names (address null: $RAY_ADDRESS, else a private local cluster); a task writes its run "
        "directory on the node that runs it, so on a multi-node cluster --out must be storage that every node shares",
    )


def seeded(experiment: Experiment, seeds: Sequence[int]) -> list[Experiment]:
    """The experiment once per seed, `seed` overridden as `--set seed=N` does (so validated the same way)."""
    return [config.from_dict(config.to_dict(experiment), (f"seed={seed}",)) for seed in seeds]


def check_ray_task(experiment: Experiment) -> None:
    """ConfigError if the experiment cannot run as one Ray task: its evaluation runs Ray workers of its own."""
    if experiment.evaluation.backend == "ray":
        raise ConfigError(
            "evaluation.backend: ray already spreads this experiment's episodes over the cluster, so it cannot be "
            "one Ray task of --ray: drop --ray (or set evaluation.backend to local or batched)"
        )


def connect_for_tasks(experiments: Sequence[Experiment]) -> None:
    """Join (or start) the one cluster the experiments' `ray:` sections name, after checking each can be a task and
    fits on a node: ConfigError, or ClusterError from the cluster, before any run starts."""
    for experiment in experiments:
        check_ray_task(experiment)
    clusters = {experiment.ray for experiment in experiments}
    if len(clusters) > 1:
        raise ConfigError("ray: the experiments name different Ray clusters; --ray runs them all on one")
    import ray

    from evolstm.evaluation.cluster import connect

    connect(experiments[0].ray)
    largest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]), default=0)
    threads = max(experiment.threads for experiment in experiments)
    if threads > largest:
        raise ConfigError(
            f"threads: a run's Ray task asks for {threads} CPUs (its threads); the cluster's largest node has "
            f"{largest:g}"
        )


def train_runs(
    experiments: Sequence[Experiment],
    runs_folder: Path,
    on_ray: bool = False,
    quiet: bool = False,
    stream: TextIO | None = None,
) -> list[Path]:
    """Train each experiment into `runs_folder` and return the run directories in the same order: one after another
    here, or (on_ray) as parallel Ray tasks. Raises as `train` does; the runs written before a failure stay."""
    if not on_ray:
        return [train(experiment, runs_folder, stream=stream, quiet=quiet).path for experiment in experiments]
    connect_for_tasks(experiments)
    return _train_on_ray(experiments, runs_folder.expanduser().resolve(), quiet, stream or sys.stdout)


def _train_task(experiment: Experiment, runs_folder: Path) -> tuple[str, Path | None, Any]:
    """One Ray task: ("done", run dir, None); RunFailed and RunStopped, which do not pickle, come back as data."""
    try:
        return "done", train(experiment, runs_folder, quiet=True).path, None
    except RunFailed as err:
        return "failed", err.path, str(err.cause)
    except RunStopped as stop:
        return "stopped", None, stop.signum


def _outcome(result: tuple[str, Path | None, Any]) -> Path:
    """The run directory of a task's result, or its failure raised again."""
    kind, path, detail = result
    if kind == "failed":
        raise RunFailed(path, RuntimeError(detail))
    if kind == "stopped":
        raise RunStopped(detail)
    return path


def _train_on_ray(experiments: Sequence[Experiment], runs_folder: Path, quiet: bool, stream: TextIO) -> list[Path]:
    """All runs as Ray tasks at once; waits for every one (a failure does not stop the others), then raises the first
    failure in run order. A stop signal cancels the tasks (each run stops and writes its summary) and raises
    RunStopped."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    from evolstm.evaluation import ClusterError

    task = ray.remote(max_retries=0)(_train_task)
    refs = [task.options(num_cpus=e.threads).remote(e, runs_folder) for e in experiments]
    with StopRequests() as stop:
        pending, ended = list(refs), 0
        while pending and stop.signum is None:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=1.0)
            for ref in ready if not quiet else ():
                experiment, ended = experiments[refs.index(ref)], ended + 1
                stream.write(f"{experiment.name} seed {experiment.seed}: ended ({ended}/{len(refs)} runs)\n")
                stream.flush()
        if stop.signum is not None:
            for ref in pending:
                ray.cancel(ref)
            if pending:
                ray.wait(pending, num_returns=len(pending), timeout=CANCEL_WAIT)
            raise RunStopped(stop.signum)
    paths: list[Path] = []
    first_error: Exception | None = None
    for ref, experiment in zip(refs, experiments):
        try:
            paths.append(_outcome(ray.get(ref)))
        except RayTaskError as err:
            cause = err.cause
            if not isinstance(cause, (*USER_MISTAKES, *FAILURES)):
                raise
            first_error = first_error or cause
        except RayError as err:  # the task's worker died (out of memory, a crashing env) or its node was lost
            reason = " ".join(str(err).split())[:200]
            first_error = first_error or ClusterError(
                f"the Ray task of {experiment.name} seed {experiment.seed} died: {reason}"
            )
        except (RunFailed, RunStopped) as err:
            first_error = first_error or err
    if first_error is not None:
        raise first_error
    return paths


def _stats(values: list[float]) -> dict[str, float] | None:
    """Mean, sample std (0 for one value), min and max, rounded as compare.summarize rounds; None without values."""
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "mean": round(statistics.fmean(values), 3),
        "std": round(std, 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def pool(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One row for the seeds of one experiment, from their compare.summarize rows (each with its `seed`): what the
    runs share, the seeds, stats of the POOLED and fresh_return_* columns, and the rows themselves under `runs`."""
    first = rows[0]
    pooled: dict[str, Any] = {key: first[key] for key in ("experiment", "trainer", "policy", "parameters")}
    pooled["seeds"] = [row["seed"] for row in rows]
    columns = dict.fromkeys(key for row in rows for key in row)
    for key in columns:
        if key in POOLED or key.startswith("fresh_return_"):
            pooled[key] = _stats([row[key] for row in rows if row.get(key) is not None])
    pooled["runs"] = list(rows)
    return pooled


def _number(value: float) -> str:
    """A table number: 4 significant digits, or whole with thousands separators from 10,000 on (env steps)."""
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def pooled_cells(pooled: dict[str, Any]) -> dict[str, Any]:
    """A pooled row for a Markdown table: seeds as a spec, each stats cell as `mean ± std [min, max]`."""
    cells: dict[str, Any] = {}
    for key, value in pooled.items():
        if key == "runs":
            continue
        if key == "seeds":
            cells[key] = format_seeds(value)
        elif isinstance(value, dict):
            mean, std, low, high = (_number(value[k]) for k in ("mean", "std", "min", "max"))
            cells[key] = f"{mean} ± {std} [{low}, {high}]"
        else:
            cells[key] = value
    return cells
