"""python -m evolstm.bench throughput ...: evolstm's benchmarks (numbers to report, not tests)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import yaml

from evolstm import cli
from evolstm.atomic import write_text

#: the tasks `throughput` measures when none is given: velocity-free CartPole and a fixed-length task
DEFAULT_TASKS = [
    {"id": "evolstm/MaskedCartPole-v0", "kwargs": {}},
    {"id": "evolstm/RepeatPrevious-v0", "kwargs": {"symbols": 4, "lag": 2, "length": 200}},
]


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m evolstm.bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("throughput", help="env steps/s of local, batched and EvoTorch evaluation")
    run.add_argument("--task", help="Gymnasium id (default: masked CartPole and RepeatPrevious of length 200)")
    run.add_argument("--kwargs", default="{}", help="task kwargs as a YAML mapping, e.g. '{length: 10}'")
    run.add_argument("--hidden", type=int, default=32)
    run.add_argument("--popsizes", default="32,256", help="comma-separated population sizes")
    run.add_argument("--episodes", type=int, default=1, help="episodes per member")
    run.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    run.add_argument("--repeats", type=int, default=3, help="timed repeats per figure (median)")
    run.add_argument("--no-evotorch", action="store_true", help="skip EvoTorch's GymNE/VecGymNE")
    run.add_argument("--out", type=Path, default=Path("bench-results/throughput.json"), help="JSON file to write")
    scale = commands.add_parser("scale", help="batched throughput for large populations (GPU) and agreement")
    scale.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    scale.add_argument("--popsizes", default="1024,4096,16384,65536")
    scale.add_argument("--hidden", type=int, default=32)
    scale.add_argument("--episodes", type=int, default=1)
    scale.add_argument("--threads", type=int, default=1)
    scale.add_argument("--repeats", type=int, default=3)
    scale.add_argument("--out", type=Path, default=Path("bench-results/scale.json"))
    ray_scaling = commands.add_parser("scaling", help="in-process vs 1, 2, ... Ray workers on a CPU-bound env")
    ray_scaling.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ray_scaling.add_argument("--popsize", type=int, default=256)
    ray_scaling.add_argument("--hidden", type=int, default=32)
    ray_scaling.add_argument("--generations", type=int, default=5, help="timed generations per path (median)")
    ray_scaling.add_argument("--threads", type=int, default=1)
    ray_scaling.add_argument("--out", type=Path, default=Path("bench-results/scaling.json"))
    overhead = commands.add_parser("checkpoint", help="checkpoint overhead on an experiment (default: T-maze)")
    overhead.add_argument("--experiment", type=Path, default=Path("experiments/tmaze-es.yaml"))
    overhead.add_argument("--intervals", default="10,1,0", help="checkpoint_every values (10 is the default)")
    overhead.add_argument("--repeats", type=int, default=3, help="runs per interval (median)")
    overhead.add_argument("--threads", type=int, default=1)
    overhead.add_argument("--out", type=Path, default=Path("bench-results/checkpoint.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.command == "checkpoint":
        return _checkpoint(args)
    if args.command == "scale":
        return _scale(args)
    if args.command == "scaling":
        return _ray_scaling(args)

    from evolstm.bench.throughput import agreement, format_table, throughput

    tasks = [{"id": args.task, "kwargs": yaml.safe_load(args.kwargs) or {}}] if args.task else DEFAULT_TASKS
    popsizes = [int(p) for p in args.popsizes.split(",")]
    rows = []
    for task in tasks:
        rows += throughput(task, args.hidden, popsizes, args.episodes, args.repeats, not args.no_evotorch)
        print(f"{task['id']}: largest |fitness(local) - fitness(batched cpu)| = "
              f"{agreement(task, args.hidden, min(popsizes), args.episodes):.3g}", flush=True)
    print(f"torch threads: {args.threads}; LSTM hidden {args.hidden}; {args.episodes} episode(s) per member")
    print(format_table(rows))
    return _write(rows, args.out)


def _write(rows: list[dict], path: Path) -> int:
    """Write the rows as JSON and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(rows, indent=2) + "\n")
    print(f"written to {path}")
    return 0


def _ray_scaling(args: argparse.Namespace) -> int:
    """Speedup of Ray workers over the in-process path, and Ray's per-generation overhead."""
    from evolstm.bench.scaling import format_scaling, scaling

    rows = scaling([int(w) for w in args.workers.split(",")], args.popsize, args.hidden, args.generations)
    print(f"SpinningMaskedCartPole-v0 (every step burns 50 us); population {args.popsize}, LSTM {args.hidden}, "
          f"1 episode each; torch threads {args.threads} in the driver and 1 per worker")
    print(format_scaling(rows))
    return _write(rows, args.out)


def _scale(args: argparse.Namespace) -> int:
    """Agreement of the device's fitness with the local path, then throughput per population size."""
    from evolstm.bench.throughput import agreement, format_table, scaling

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: torch sees no CUDA device", file=sys.stderr)
        return 2
    popsizes = [int(p) for p in args.popsizes.split(",")]
    rows = []
    for task in DEFAULT_TASKS:
        print(f"{task['id']}: largest |fitness(local) - fitness(batched {args.device})| over 256 members = "
              f"{agreement(task, args.hidden, 256, args.episodes, args.device):.3g}", flush=True)
        rows += scaling(task, args.hidden, popsizes, args.episodes, args.device, args.repeats)
    print(f"device {args.device}; torch threads: {args.threads}; LSTM hidden {args.hidden}")
    print(format_table(rows))
    for task in DEFAULT_TASKS:
        mine = [r for r in rows if r["task"] == task["id"]]
        peak = max(mine, key=lambda r: r["env_steps_per_s"])
        print(f"{task['id']}: peak {peak['env_steps_per_s']:,.0f} env steps/s at population {peak['popsize']}")
    return _write(rows, args.out)


def _checkpoint(args: argparse.Namespace) -> int:
    from evolstm.bench.checkpointing import checkpoint_overhead, format_table

    rows = checkpoint_overhead(args.experiment, [int(i) for i in args.intervals.split(",")], args.repeats)
    print(f"{args.experiment}: medians of {args.repeats} runs; the experiment's own threads setting "
          f"({rows[0]['threads']} torch thread)")
    print(format_table(rows))
    return _write(rows, args.out)


if __name__ == "__main__":
    sys.exit(main())
