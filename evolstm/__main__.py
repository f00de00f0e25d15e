"""evolstm COMMAND ...: one console command for every evolstm tool (also `python -m evolstm COMMAND ...`); each
command takes the same arguments as its `python -m evolstm.<module>` form."""

from __future__ import annotations

import importlib
import sys

#: command -> (module whose main(argv) runs it, what it does)
COMMANDS = {
    "run": ("evolstm.run", "train an experiment (or --resume a run)"),
    "replay": ("evolstm.replay.__main__", "replay a trained policy: returns, npz, GIF/MP4, memory traces"),
    "compare": ("evolstm.compare", "run experiments and write one comparison table and figure"),
    "plot": ("evolstm.plots", "learning curves of run directories"),
    "bench": ("evolstm.bench.__main__", "benchmarks: throughput, scaling, poles, memory, popgym, ..."),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "usage: evolstm COMMAND [ARGS ...]   (evolstm COMMAND --help for its arguments)\n\ncommands:\n" + "\n".join(
        lines
    )


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the command's own main; an unknown command is a one-line usage error (exit 2)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(
            f"error: unknown command {command!r}; commands: {', '.join(COMMANDS)} (see evolstm --help)", file=sys.stderr
        )
        return 2
    return importlib.import_module(COMMANDS[command][0]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
