"""python -m evolstm.bench COMMAND ...: evolstm's benchmarks (numbers to report, not tests).

Each command prints a table and writes its rows as JSON (default bench-results/COMMAND.json). A mistake in the
arguments or in an experiment is one line on stderr and exit code 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from evolstm import cli
from evolstm.atomic import write_text
from evolstm.config import ConfigError

#: the tasks `populations` measures, and `throughput` without --task: velocity-free CartPole and a fixed-length task
DEFAULT_TASKS = [
    {"id": "evolstm/MaskedCartPole-v0", "kwargs": {}},
    {"id": "evolstm/RepeatPrevious-v0", "kwargs": {"symbols": 4, "lag": 2, "length": 200}},
]


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: one integer, at least `minimum`."""

    def parse(text: str) -> int:
        """The integer `text` spells, or argparse's one-line error."""
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: must be at least {minimum}")
        return value

    return parse


def _list_of(minimum: int) -> Callable[[str], list[int]]:
    """An argparse type: comma-separated integers, each at least `minimum`."""
    one = _at_least(minimum)
    return lambda text: [one(part) for part in text.split(",")]


def _names(allowed: dict[str, Any]) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names, each one of `allowed`'s keys."""

    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",")]
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        return names

    return parse


def _add_names(
    parser: argparse.ArgumentParser, flag: str, allowed: Iterable[str], default: list[str] | None = None, what: str = ""
) -> None:
    """A comma-separated choice among `allowed` names (default: all of them), its help listing both."""
    allowed = list(allowed)
    chosen = allowed if default is None else default
    parser.add_argument(
        flag,
        type=_names(dict.fromkeys(allowed)),
        default=chosen,
        help=f"comma-separated{what}: {', '.join(allowed)} (default: {','.join(chosen)})",
    )


def _parsed_names(parse: Callable[[str], Any]) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names, each one that `parse` accepts (its ValueError is the message)."""

    def names(text: str) -> list[str]:
        parts = [part.strip() for part in text.split(",")]
        for part in parts:
            try:
                parse(part)
            except ValueError as err:
                raise argparse.ArgumentTypeError(str(err)) from None
        return parts

    return names


def _mapping(text: str) -> dict[str, Any]:
    """An argparse type: a YAML mapping such as '{length: 10}'."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid YAML") from None
    if not isinstance(value, dict | None):
        raise argparse.ArgumentTypeError(f"{text!r} is not a YAML mapping")
    return value or {}


def _model_flags(parser: argparse.ArgumentParser) -> None:
    """The LSTM size and torch's thread count, shared by the benchmarks that time evaluation."""
    parser.add_argument("--hidden", type=_at_least(1), default=32, help="LSTM units (default: %(default)s)")
    parser.add_argument("--threads", type=_at_least(1), default=1, help="torch intra-op threads (default: %(default)s)")


def _agreement_line(task_id: str, device: str, popsize: int, episodes: int, agreement: tuple[float, float]) -> str:
    """The agreement check's result, the difference written exactly (repr), so that 0.0 means bit-identical."""
    difference, same = agreement
    return (
        f"{task_id}: largest |return(local) - return(batched {device})| over {popsize} members x {episodes} "
        f"episode(s) = {difference!r} ({same:.1%} of the returns identical)"
    )


def _throughput_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `throughput`."""
    parser.add_argument("--task", help="Gymnasium id (default: masked CartPole and RepeatPrevious of length 200)")
    parser.add_argument(
        "--kwargs", type=_mapping, default={}, help="task kwargs as a YAML mapping, e.g. '{length: 10}' (default: {})"
    )
    _model_flags(parser)
    parser.add_argument(
        "--popsizes", type=_list_of(1), default=[32, 256], help="comma-separated population sizes (default: 32,256)"
    )
    parser.add_argument("--episodes", type=_at_least(1), default=1, help="episodes per member (default: %(default)s)")
    parser.add_argument(
        "--repeats", type=_at_least(1), default=3, help="timed repeats per figure, median (default: %(default)s)"
    )
    parser.add_argument(
        "--peers-up-to",
        type=_at_least(1),
        default=4096,
        help="largest population for the paths that loop over members in Python: evolstm local, EvoTorch GymNE and "
        "VecGymNE on scalar envs (default: %(default)s)",
    )
    parser.add_argument("--no-compile", action="store_true", help="skip evolstm's compiled path (default: off)")
    parser.add_argument("--no-evotorch", action="store_true", help="skip EvoTorch's GymNE/VecGymNE (default: off)")
    parser.add_argument(
        "--no-evox", action="store_true", help="skip EvoX, which needs `pip install evolstm[bench]` (default: off)"
    )


def _version(package: str) -> str:
    """An installed package's version, or "(not installed)"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "(not installed)"


def _versions() -> str:
    """The versions of everything a throughput table compares."""
    return ", ".join(
        f"{package} {_version(package)}" for package in ("evolstm", "torch", "gymnasium", "evotorch", "evox")
    )


def _throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Agreement of local and batched cpu at the smallest population, then the throughput table."""
    from evolstm.bench.populations import agreement
    from evolstm.bench.tables import throughput_markdown
    from evolstm.bench.throughput import throughput
    from evolstm.bench.timing import format_table

    if args.kwargs and not args.task:
        raise ConfigError("--kwargs: name the task they are for with --task")
    peers = {peer for peer in ("compile", "evotorch", "evox") if not getattr(args, f"no_{peer}")}
    if "evox" in peers:
        try:
            import evox  # noqa: F401
        except ImportError:
            raise ConfigError("EvoX is not installed: pip install 'evolstm[bench]', or pass --no-evox") from None
    tasks = [{"id": args.task, "kwargs": args.kwargs}] if args.task else DEFAULT_TASKS
    smallest = min(args.popsizes)
    rows = []
    for task in tasks:
        agreed = agreement(task, args.hidden, smallest, args.episodes)
        print(_agreement_line(task["id"], "cpu", smallest, args.episodes, agreed), flush=True)
        rows += throughput(task, args.hidden, args.popsizes, args.episodes, args.repeats, peers, args.peers_up_to)
    print(f"torch threads: {args.threads}; LSTM hidden {args.hidden}; {args.episodes} episode(s) per member")
    print(_versions())
    print(format_table(rows))
    markdown = args.out.with_suffix(".md")
    markdown.parent.mkdir(parents=True, exist_ok=True)
    write_text(markdown, f"{_versions()}; torch threads {args.threads}\n\n{throughput_markdown(rows)}")
    print(f"markdown tables written to {markdown}")
    return rows


#: envs of the GPU sweep: 1k to 1M (populations 64 to 65,536 of 16 episodes); the CPU's stops at 64k
GPU_POPSIZES, CPU_POPSIZES, SWEEP_EPISODES = [64, 256, 1024, 4096, 16384, 65536], [64, 256, 1024, 4096], 16


def _populations_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `populations`."""
    parser.add_argument(
        "--device", default="cuda", choices=["cuda", "cpu"], help="where the batched path runs (default: cuda)"
    )
    _model_flags(parser)
    parser.add_argument(
        "--popsizes",
        type=_list_of(1),
        help=f"comma-separated population sizes (default: {','.join(map(str, GPU_POPSIZES))} on cuda, "
        f"{','.join(map(str, CPU_POPSIZES))} on cpu: with {SWEEP_EPISODES} episodes, 1k to 1M or 64k envs)",
    )
    parser.add_argument(
        "--agreement-popsize",
        type=_at_least(1),
        default=256,
        help="members in the agreement check (default: %(default)s)",
    )
    parser.add_argument(
        "--episodes", type=_at_least(1), default=SWEEP_EPISODES, help="episodes per member (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=_at_least(1), default=3, help="timed repeats per figure, median (default: %(default)s)"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time the compiled path, evaluation.compile (default: off)"
    )


def _populations(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Agreement of the device's returns with the local path, then throughput per population size and the peak."""
    from evolstm.bench.populations import agreement, populations
    from evolstm.bench.timing import format_table

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA device (use --device cpu)")
    popsizes = args.popsizes or (GPU_POPSIZES if args.device == "cuda" else CPU_POPSIZES)
    rows = []
    for task in DEFAULT_TASKS:
        for compile in [False, True] if args.compile else [False]:
            agreed = agreement(task, args.hidden, args.agreement_popsize, args.episodes, args.device, compile)
            device = f"{args.device}{' compiled' if compile else ''}"
            print(_agreement_line(task["id"], device, args.agreement_popsize, args.episodes, agreed), flush=True)
            rows += populations(task, args.hidden, popsizes, args.episodes, args.device, args.repeats, compile)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device {name}; torch {torch.__version__}; torch threads: {args.threads}; LSTM hidden {args.hidden}")
    print(format_table(rows))
    for task in DEFAULT_TASKS:
        peak = max((r for r in rows if r["task"] == task["id"]), key=lambda r: r["env_steps_per_s"])
        print(
            f"{task['id']}: peak {peak['env_steps_per_s']:,.0f} env steps/s ({peak['path']}) at {peak['envs']:,} envs,"
            f" {peak['peak_mb']:,.0f} MB peak memory growth"
        )
    return rows


def _narrow_rows(text: str) -> int:
    """`--narrow`'s type: 0 or a multiple of 16 (any CPU's vector width divides it)."""
    value = _at_least(0)(text)
    if value % 16:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or a multiple of 16")
    return value


def _poles_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `poles`."""
    from evolstm.bench.poles import DEFAULT_METHODS, METHOD_FORM, NARROW_SLOTS, TASKS, parse_method

    parser.add_argument("--runs", type=_at_least(1), default=50, help="independent runs per method (default: 50)")
    parser.add_argument(
        "--methods",
        type=_parsed_names(parse_method),
        default=list(DEFAULT_METHODS),
        help=f"comma-separated methods, each {METHOD_FORM}: an EvoTorch searcher (snes, xnes, cmaes, pgpe, cosyne) on "
        "a plain recurrent (rnn) or LSTM network of H units, with the searcher's population N and initial spread X "
        "unless given, the input weights searched at K times the others' scale (default 1), restarting after G "
        "generations without a better best (default 50) "
        f"(default: {','.join(DEFAULT_METHODS)})",
    )
    _add_names(parser, "--tasks", TASKS, ["double"])
    _add_names(parser, "--fitness", ("standard", "damping"), what=" fitness functions")
    parser.add_argument(
        "--max-evaluations",
        type=_at_least(1),
        default=20_000,
        help="episodes a run may play before it counts as unsolved (default: %(default)s)",
    )
    parser.add_argument("--seed", type=_at_least(0), default=0, help="first of the runs' seeds (default: 0)")
    parser.add_argument(
        "--eager",
        action="store_true",
        help="score with eager steps: no compiling, but long episodes run ~10x slower (default: off)",
    )
    parser.add_argument(
        "--narrow",
        type=_narrow_rows,
        default=NARROW_SLOTS,
        help="rows a method's episode slots step while no more episodes play: a multiple of 16, so that narrow and "
        "wide compiled programs round alike (at least one run's population; 0: always all slots) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--threads", type=_at_least(1), default=1, help="torch intra-op threads per process (default: 1)"
    )
    parser.add_argument(
        "--jobs",
        type=_at_least(1),
        default=os.cpu_count() or 1,
        help="processes playing the table's rows (method, task, fitness) in parallel (default: CPU count, %(default)s)",
    )


def _poles(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Runs of each method on each task and fitness, the rows spread over `--jobs` processes; a markdown table (with
    the published rows) and a figure."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from evolstm.bench.poles import measure
    from evolstm.bench.poles_report import figure, markdown

    began = time.perf_counter()
    cells = [(method, task, fitness) for task in args.tasks for fitness in args.fitness for method in args.methods]
    settings = (args.runs, args.max_evaluations, args.seed, not args.eager, args.threads, args.narrow)

    def report(row: dict[str, Any]) -> dict[str, Any]:
        print(
            f"{row['method']} {row['task']} {row['fitness']}: {row['solved']}/{row['runs']} solved, mean "
            f"{row['mean_evaluations']:,.0f} / median {row['median_evaluations']:,.0f} evaluations, "
            f"{row['wall_seconds'] / 60:.1f} min",
            flush=True,
        )
        return row

    processes = min(args.jobs, len(cells))
    if processes == 1:
        rows = [report(measure(*cell, *settings)) for cell in cells]
    else:  # spawned, not forked: each process starts its own torch (threads, compiled programs)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            futures = {pool.submit(measure, *cell, *settings): i for i, cell in enumerate(cells)}
            finished = {futures[future]: report(future.result()) for future in as_completed(futures)}
        rows = [finished[i] for i in range(len(cells))]
    header = (
        f"{_versions()}; {processes} processes of {args.threads} torch thread(s); "
        f"{f'slots narrowing to {args.narrow} rows' if args.narrow else 'slots never narrowing'}; {args.runs} runs "
        f"per method, at most {args.max_evaluations:,} evaluations each; the whole table "
        f"{(time.perf_counter() - began) / 60:.1f} min"
    )
    table = markdown(rows, header)
    write_text(args.out.with_suffix(".md"), table)
    figure(rows, args.out.with_suffix(".png"))
    print(table)
    print(f"markdown table and figure written to {args.out.with_suffix('.md')} and {args.out.with_suffix('.png')}")
    return rows


def _budgets(text: str) -> dict[str, int]:
    """`--budget`'s type: TRAINER=STEPS pairs, comma-separated (e.g. es=1e8,reinforce=2e7)."""
    from evolstm.config import TRAINER_KINDS

    budgets = {}
    for part in text.split(","):
        trainer, _, steps = part.partition("=")
        if trainer.strip() not in TRAINER_KINDS:
            raise argparse.ArgumentTypeError(
                f"{part!r}: give TRAINER=STEPS with TRAINER one of {', '.join(TRAINER_KINDS)}"
            )
        budgets[trainer.strip()] = _env_steps(steps)
    return budgets


def _env_steps(text: str) -> int:
    """An argparse type: a positive number of env steps, in scientific notation if liked (2e7)."""
    try:
        steps = int(float(text))
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number of env steps such as 2e7") from None
    return _at_least(1)(str(steps))


def _suite_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that every training suite (memory, popgym) shares."""
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("bench-results/runs"),
        help="where the suite's run directories go (default: %(default)s)",
    )
    parser.add_argument("--threads", type=_at_least(1), default=1, help="torch threads per run (default: 1)")
    parser.add_argument(
        "--jobs",
        type=_at_least(1),
        default=os.cpu_count() or 1,
        help="runs trained in parallel processes (default: CPU count, %(default)s)",
    )


def _memory_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `memory`."""
    from evolstm.bench.spans import BUDGETS, TASKS
    from evolstm.config import TRAINER_KINDS

    _add_names(parser, "--tasks", TASKS)
    _add_names(parser, "--trainers", TRAINER_KINDS)
    parser.add_argument(
        "--lengths",
        type=_list_of(1),
        help="comma-separated corridor lengths, tried in order until one is not solved (default: "
        + "; ".join(f"{task} {','.join(map(str, lengths))}" for task, (_, _, lengths) in TASKS.items())
        + ")",
    )
    parser.add_argument(
        "--budget",
        type=_budgets,
        default={},
        help="env steps per run, TRAINER=STEPS comma-separated (default: "
        + ",".join(f"{trainer}={steps:.0e}" for trainer, steps in BUDGETS.items())
        + ")",
    )
    parser.add_argument("--seed", type=_at_least(0), default=0, help="seed of every run (default: 0)")
    _suite_flags(parser)


def _memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each task and trainer's series of growing corridors; a markdown table and a figure of return against length."""
    from evolstm.bench import spans
    from evolstm.bench.suites import best_return, run_series

    budgets = {**spans.BUDGETS, **args.budget}
    series = spans.series(args.tasks, args.trainers, args.lengths, budgets, args.seed)
    began = time.perf_counter()

    def report(row: dict[str, Any]) -> None:
        print(
            f"{row['task']} {row['trainer']} L={row['length']}: best return {best_return(row):.3f}"
            f"{' (solved)' if spans.solved(row) else ''}, {row['env_steps']:,} env steps, "
            f"{row['seconds'] / 60:.1f} min",
            flush=True,
        )

    rows = run_series(series, args.runs_dir, args.jobs, args.threads, spans.solved, report)
    header = (
        f"{_versions()}; {min(args.jobs, len(series))} processes of {args.threads} torch thread(s); budgets "
        + ", ".join(f"{trainer} {steps:,} env steps" for trainer, steps in budgets.items() if trainer in args.trainers)
        + f" per run; seed {args.seed}; solved: best return >= {spans.SOLVED_SHARE:.0%} of the optimum over 100 fresh "
        f"episodes; the whole table {(time.perf_counter() - began) / 60:.1f} min"
    )
    table = spans.markdown(rows, header)
    write_text(args.out.with_suffix(".md"), table)
    spans.figure(rows, args.out.with_suffix(".png"))
    print(table)
    return rows


def _popgym_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `popgym`."""
    from evolstm.bench.popgym_suite import DIFFICULTIES, ENVS
    from evolstm.config import TRAINER_KINDS

    _add_names(parser, "--envs", ENVS, what=" POPGym envs")
    _add_names(parser, "--difficulties", DIFFICULTIES, ["Easy", "Medium"])
    _add_names(parser, "--trainers", TRAINER_KINDS)
    parser.add_argument("--seeds", type=_at_least(1), default=3, help="seeds per cell, 0..N-1 (default: 3)")
    parser.add_argument(
        "--budget",
        type=_env_steps,
        default=15_000_000,
        help="env steps per run (default: %(default)s, 15M: POPGym's per trial)",
    )
    _suite_flags(parser)


def _popgym(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every env, difficulty, trainer and seed trained; a markdown table of MMER and final returns."""
    import importlib.util

    from evolstm.bench import popgym_suite
    from evolstm.bench.suites import best_return, run_series

    if importlib.util.find_spec("popgym") is None:
        raise ConfigError("POPGym is not installed: pip install 'evolstm[popgym]'")
    series = popgym_suite.cells(args.envs, args.difficulties, args.trainers, args.seeds, args.budget)
    began = time.perf_counter()

    def report(row: dict[str, Any]) -> None:
        print(
            f"{row['env']}{row['difficulty']} {row['trainer']} seed {row['seed']}: MMER "
            f"{popgym_suite.mmer(row):.3f}, final {best_return(row):.3f}, {row['env_steps']:,} env "
            f"steps, {row['seconds'] / 60:.1f} min",
            flush=True,
        )

    rows = run_series(series, args.runs_dir, args.jobs, args.threads, None, report)
    header = (
        f"{_versions()}, popgym {_version('popgym')}; {min(args.jobs, len(series))} processes of {args.threads} "
        f"torch thread(s); {args.budget:,} env steps per run; the whole table "
        f"{(time.perf_counter() - began) / 60:.1f} min"
    )
    table = popgym_suite.markdown(rows, header)
    write_text(args.out.with_suffix(".md"), table)
    print(table)
    return rows


def _resets_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `resets`."""
    parser.add_argument("--device", default="cpu", choices=["cuda", "cpu"], help="where the envs live (default: cpu)")
    parser.add_argument(
        "--sizes",
        type=_list_of(1),
        default=[1024, 4096, 16384, 65536, 262144],
        help="comma-separated env counts (default: 1024,4096,16384,65536,262144)",
    )
    parser.add_argument("--repeats", type=_at_least(1), default=7, help="timed resets per size, median (default: 7)")
    parser.add_argument("--threads", type=_at_least(1), default=1, help="torch intra-op threads (default: 1)")


def _resets(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Reset time per env count for every batched task."""
    from evolstm.bench.resets import format_table, reset_times

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA device (use --device cpu)")
    rows = []
    from evolstm.tasks import TASK_IDS

    kwargs = {task["id"]: task["kwargs"] for task in DEFAULT_TASKS}
    for task_id in TASK_IDS:  # every batched task
        rows += reset_times({"id": task_id, "kwargs": kwargs.get(task_id, {})}, args.sizes, args.device, args.repeats)
    print(f"device {args.device}; torch {torch.__version__}; torch threads: {args.threads}; one seed per env")
    print(format_table(rows))
    return rows


def _ray_workers_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `ray-workers`."""
    parser.add_argument(
        "--workers", type=_list_of(1), default=[1, 2], help="comma-separated worker counts (default: 1,2)"
    )
    parser.add_argument("--popsize", type=_at_least(1), default=256, help="population size (default: %(default)s)")
    _model_flags(parser)
    parser.add_argument(
        "--generations", type=_at_least(1), default=5, help="timed generations per path, median (default: %(default)s)"
    )


def _ray_workers(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Speedup of Ray workers over the in-process path, and Ray's per-generation overhead."""
    from evolstm.bench.ray_workers import format_table, ray_workers

    rows = ray_workers(args.workers, args.popsize, args.hidden, args.generations)
    print(
        f"SpinningMaskedCartPole-v0 (every step burns 50 us); population {args.popsize}, LSTM {args.hidden}, "
        f"1 episode each; torch threads {args.threads} in the driver and 1 per worker"
    )
    print(format_table(rows))
    return rows


def _checkpoint_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `checkpoint` (the experiment's own `threads` setting applies)."""
    parser.add_argument(
        "--experiment",
        type=Path,
        default=Path("experiments/tmaze-es.yaml"),
        help="experiment YAML file (default: %(default)s)",
    )
    parser.add_argument(
        "--intervals",
        type=_list_of(0),
        default=[10, 1, 0],
        help="checkpoint_every values; 10 is the default, 0 start and exit only (default: 10,1,0)",
    )
    parser.add_argument(
        "--repeats", type=_at_least(1), default=3, help="runs per interval, median (default: %(default)s)"
    )


def _checkpoint(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Checkpoint overhead per interval, medians of runs of the experiment."""
    from evolstm.bench.checkpointing import checkpoint_overhead, format_table

    rows = checkpoint_overhead(args.experiment, args.intervals, args.repeats)
    print(
        f"{args.experiment}: medians of {args.repeats} runs; the experiment's own threads setting "
        f"({rows[0]['threads']} torch thread(s))"
    )
    print(format_table(rows))
    return rows


#: what `startup` times by default: one experiment per way a run evaluates (batched, local, private Ray)
STARTUP_EXPERIMENTS = ("quickstart", "masked-cartpole-es", "ray-masked-cartpole")


def _startup_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `startup`."""
    parser.add_argument(
        "--experiments",
        type=lambda text: [Path(part) for part in text.split(",")],
        default=[Path(f"experiments/{name}.yaml") for name in STARTUP_EXPERIMENTS],
        help="comma-separated experiment files: in process (batched, local) and on a private Ray cluster (default: "
        + ",".join(f"experiments/{name}.yaml" for name in STARTUP_EXPERIMENTS)
        + ")",
    )
    parser.add_argument(
        "--repeats", type=_at_least(1), default=3, help="runs per experiment, median (default: %(default)s)"
    )
    parser.add_argument(
        "--threads", type=_at_least(1), default=1, help="torch threads of each run (default: %(default)s)"
    )


def _startup(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Seconds from `python -m evolstm.run` to its first printed step, per experiment."""
    from evolstm.bench.startup import format_table, startup_rows

    for path in args.experiments:
        if not path.is_file():
            raise ConfigError(f"--experiments: no such file {path}")
    rows = startup_rows(args.experiments, args.repeats, args.threads)
    print(
        f"seconds from the process start, median (min-max) of {args.repeats} runs; torch threads {args.threads} "
        f"({_versions()})"
    )
    print(format_table(rows))
    return rows


@dataclass(frozen=True)
class Command:
    """A subcommand: its one-line help, its flags (all but --out) and what it runs (the rows to write)."""

    help: str
    flags: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], list[dict[str, Any]]]
    threads: bool = True  # sets torch's thread count from --threads


COMMANDS: dict[str, Command] = {
    "throughput": Command(
        "env steps/s and memory per member of evolstm (local, batched, compiled), the bare step, EvoTorch and EvoX",
        _throughput_flags,
        _throughput,
    ),
    "populations": Command(
        "env steps/s of the batched path for large populations on one device (GPU), after "
        "checking that it scores exactly as the local path",
        _populations_flags,
        _populations,
    ),
    "poles": Command(
        "evaluations to solve pole balancing without velocities (DPNV, single pole) over many runs per method, "
        "beside the published figures",
        _poles_flags,
        _poles,
    ),
    "memory": Command(
        "the longest T-maze corridor (passive T-maze of Ni et al. 2023; Bakker's) that ES and REINFORCE with an "
        "LSTM solve within an env-step budget",
        _memory_flags,
        _memory,
        threads=False,
    ),
    "popgym": Command(
        "ES and REINFORCE with an LSTM on POPGym's memory tasks: max-mean-episodic-return (MMER) over seeds",
        _popgym_flags,
        _popgym,
        threads=False,
    ),
    "resets": Command(
        "time to reset 1k to 262k envs of each batched task (start states drawn on the device)",
        _resets_flags,
        _resets,
    ),
    "ray-workers": Command(
        "seconds per generation in-process vs on 1, 2, ... Ray workers (CPU-bound env), and Ray's overhead",
        _ray_workers_flags,
        _ray_workers,
    ),
    "checkpoint": Command(
        "share of a run's wall time spent writing checkpoints, per checkpoint interval",
        _checkpoint_flags,
        _checkpoint,
        threads=False,
    ),
    "startup": Command(
        "seconds from `python -m evolstm.run` to its first printed step (local and private-Ray runs), and to "
        "`import evolstm.training`",
        _startup_flags,
        _startup,
        threads=False,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subparser per entry of COMMANDS, each with --out bench-results/NAME.json."""
    parser = cli.ArgumentParser(
        prog="python -m evolstm.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        command.flags(sub)
        sub.add_argument(
            "--out",
            type=Path,
            default=Path(f"bench-results/{name}.json"),
            help="JSON file to write (default: %(default)s)",
        )
    return parser


def _check_out(path: Path) -> None:
    """Fail now, not after the benchmark, when the JSON file cannot be written at `path` (creating no folder)."""
    if path.is_dir():
        raise ConfigError(f"--out {path}: is a folder; give a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the folder that `mkdir -p` would create the rest in
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {path}: cannot write there ({folder} is not a writable folder)")


def main(argv: list[str] | None = None) -> int:
    """Run one benchmark: 0 on success, 2 (and one line on stderr) on a user mistake."""
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command]
    if command.threads:
        torch.set_num_threads(args.threads)
    try:
        _check_out(args.out)
        rows = command.run(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(rows, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
