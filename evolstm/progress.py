"""What a run prints while it works: a header, then a progress bar with ETA on a terminal or a plain line every
`log_every` steps (with ETA) in a pipe or a CI log, Ray's start-up and the final evaluation; quiet: the run directory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from evolstm.config import Experiment
from evolstm.policies import PolicySpec


#: a step's name in progress lines and on the bar
SHORT = {"generation": "gen", "iteration": "iter"}


def duration(seconds: float) -> str:
    """12.3s, 4m05s or 2h03m: short enough for a progress line."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def progress_line(row: dict[str, Any], step_name: str, greedy_key: str, total: int | None, eta: float | None) -> str:
    """One progress line: step, batch returns, greedy return, env steps, wall time and (when known) time left."""

    def number(key: str) -> str:
        return f"{row[key]:9.3f}" if row.get(key) is not None else f"{'-':>9}"

    greedy = f" {greedy_key} {number(greedy_key)}" if greedy_key in row else ""
    budget = f"/{total}" if total else ""
    short = SHORT.get(step_name, step_name)
    left = f" | eta {duration(eta)}" if eta is not None else ""
    return (
        f"{short} {row[step_name] + 1:>5}{budget} | best {number('best')} mean {number('mean')}{greedy}"
        f" | steps {row['env_steps']:>10,} | {row['wall_time']:7.1f}s{left}"
    )


class Progress:
    """The console side of one run. On a terminal the steps drive a tqdm bar (ETA, rate); elsewhere (a pipe, a file,
    a CI log) no control codes are written, only lines."""

    def __init__(self, stream: TextIO, quiet: bool, experiment: Experiment, bar: bool | None = None) -> None:
        self.stream, self.quiet, self.experiment = stream, quiet, experiment
        self.use_bar = (not quiet) and (stream.isatty() if bar is None else bar)
        self._bar: tqdm | None = None
        self._t0, self._p0 = time.perf_counter(), 0.0

    def say(self, line: str) -> None:
        """A line of its own (above the bar, when there is one)."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def header(self, spec: PolicySpec, run_dir: Path, resumed_at: str | None) -> None:
        """What runs and where its directory is (quiet: the directory alone, so scripts can read it)."""
        e = self.experiment
        if self.quiet:
            self.stream.write(f"{run_dir}\n")
            self.stream.flush()
            return
        where = f"resuming at {resumed_at}" if resumed_at else "run dir"
        self.say(
            f"evolstm: {e.name} | {e.task.id} | {spec.kind} ({spec.num_params:,} parameters) | {e.trainer.kind} | "
            f"{where} {run_dir}"
        )

    def start(self, step_name: str, done: int, env_steps: int, progress: float) -> None:
        """Stepping begins at `progress` (the fraction of the budget spent): the ETA counts from here, and on a
        terminal the bar opens at the steps done so far."""
        self._t0, self._p0 = time.perf_counter(), progress
        if not self.use_bar:
            return
        budget = self.experiment.trainer.budget
        total, initial = (budget, done) if budget else (self.experiment.trainer.max_env_steps, env_steps)
        unit = SHORT.get(step_name, step_name) if budget else "env step"
        self._bar = tqdm(total=total, initial=initial, unit=unit, file=self.stream, dynamic_ncols=True, leave=True)

    def step(self, row: dict[str, Any], step_name: str, greedy_key: str, progress: float, last: bool) -> None:
        """After each step: the bar moves (its postfix shows the returns); every log_every steps (and the last) a line."""
        if self.quiet:
            return
        eta = None
        if self._p0 < progress < 1.0:
            eta = (time.perf_counter() - self._t0) * (1.0 - progress) / (progress - self._p0)
        if self._bar is not None:
            if self.experiment.trainer.budget:
                self._bar.update(1)
            else:
                self._bar.update(row["env_steps"] - self._bar.n)
            self._bar.set_postfix_str(
                " ".join(f"{k} {row[k]:.3f}" for k in ("best", "mean", greedy_key) if row.get(k) is not None),
                refresh=False,
            )
        if row[step_name] % self.experiment.log_every == 0 or last:
            self.say(progress_line(row, step_name, greedy_key, self.experiment.trainer.budget, eta))

    def close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
