"""python -m tests.hostile_table TREE [TREE ...] > table.md: replay every case of tests/hostile_cases.py against the
evolstm checkout(s) given (each case its own process, with a memory cap and a time limit) and print how each ended.

An outcome reads `ok` when it is the promised one (that exit code and, for an error, one `error:` line), and
otherwise says what happened instead: another exit code, a traceback, a multi-line message, killed, or a hang.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.hostile_cases import CASES, Case

#: bytes of address space per case, so that a memory bomb fails instead of taking the machine (not for the Ray cases:
#: a Ray node reserves more address space than that and does not start under the cap)
MEMORY_CAP = 6 << 30


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def outcome(case: Case, tree: Path) -> str:
    """How `case` ended on the checkout at `tree`."""
    os.environ["PYTHONPATH"] = str(tree)  # the cases' own set-up runs (training a policy) use that checkout too
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), folder])}
        try:
            argv = case.build(Path(folder))
            done = subprocess.run(
                [sys.executable, "-m", *argv], cwd=folder, env=env, capture_output=True, text=True,
                timeout=case.seconds, preexec_fn=None if case.name.startswith("ray-") else _cap_memory,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"hang (> {case.seconds:.0f} s)"
        except subprocess.CalledProcessError as err:
            return f"set-up failed ({err.stderr.strip().splitlines()[-1][:60] if err.stderr else err})"
        pwned = (Path(folder) / "PWNED").exists() or "Beautiful is better than ugly" in done.stdout
    err = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode < 0:
        return f"killed by signal {-done.returncode}"
    traceback = any(line.startswith("Traceback") for line in err)
    promised = done.returncode == case.code and (
        case.code == 0 or (len(err) == 1 and err[0].startswith("error: ") and case.says in err[0])
    )
    if promised and not pwned:
        return "ok"
    said = err[-1][:70] if err else "(nothing on stderr)"
    return (
        f"exit {done.returncode}" + (", ran code from the file" if pwned else "")
        + (", traceback" if traceback else f", {len(err)} stderr lines" if len(err) > 1 else "") + f": {said}"
    )  # fmt: skip


def main(trees: list[str]) -> None:
    header = "| case | promised | " + " | ".join(Path(tree).name for tree in trees) + " |"
    print(header + "\n|" + "---|" * (2 + len(trees)), flush=True)
    for case in CASES:
        promise = "exit 0" if case.code == 0 else f"exit {case.code}, one line"
        cells = [outcome(case, Path(tree).resolve()).replace("|", "/") for tree in trees]
        print(f"| {case.name} | {promise} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
