"""The run directory's one-writer lock: a second writer is refused in one line naming the holder; a killed holder
never blocks a resume; the lock is not inherited by child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evolstm.runs import RunDir, RunLock, RunLockedError

HOLD = (
    "import sys, time; from pathlib import Path; from evolstm.runs import RunDir, RunLock; "
    "RunLock(RunDir(Path(sys.argv[1]))); print('held', flush=True); time.sleep(60)"
)


def _holder(run: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        with pytest.raises(RunLockedError, match=rf"process {holder.pid} is writing this run"):
            RunLock(RunDir(tmp_path))
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_does_not_block(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    lock = RunLock(RunDir(tmp_path))  # the kernel released the dead process's lock
    assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    lock.release()
    RunLock(RunDir(tmp_path)).release()  # and a released lock can be taken again


def test_children_do_not_inherit_the_lock(tmp_path: Path) -> None:
    lock = RunLock(RunDir(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.release()
        time.sleep(0.1)
        RunLock(RunDir(tmp_path)).release()  # the child holds nothing
    finally:
        child.kill()
        child.wait()
