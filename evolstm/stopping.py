"""Graceful stops: the first SIGINT (Ctrl-C) or SIGTERM (a scheduler's pre-emption) asks the run to stop after the
current generation, checkpoint and export; a second one stops at once (the last checkpoint stays usable)."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunStopped(Exception):
    """The run stopped early on a signal, after saving what it had; the exit code is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class StopRequests:
    """While active, records the first stop signal in `signum` and turns a second one into KeyboardInterrupt
    (its number in `last`)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.last: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.last = signum
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name}: stopping after this training step (again to stop now)", file=sys.stderr
        )

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():  # signals can only be handled there
            self._previous = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
