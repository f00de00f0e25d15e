"""Peak memory of a block of work: the growth of the process's resident set (CPU) or of torch's CUDA allocations."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from types import TracebackType

import torch

#: glibc's mallopt parameter numbers
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_SMALL = 64 * 1024


def return_freed_memory() -> None:
    """Make glibc give every allocation above 64 KiB back to the OS when freed (fixed mmap and trim thresholds), so
    that the resident set follows the live tensors instead of keeping earlier rows' peaks in the heap."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, _SMALL)
        libc.mallopt(_M_TRIM_THRESHOLD, _SMALL)


def resident_bytes() -> int:
    """This process's resident set size now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class PeakMemory:
    """`with PeakMemory(device) as peak: ...` then `peak.bytes`: the highest growth over the start while the block
    ran: of the resident set (sampled every millisecond by a thread) on the CPU, of torch's allocated CUDA memory
    (`max_memory_allocated`) on a GPU."""

    def __init__(self, device: torch.device, every_s: float = 1e-3) -> None:
        self.device, self.every_s = device, every_s
        self.bytes = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
        else:
            self._start = self._peak = resident_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.is_set():
            self._peak = max(self._peak, resident_bytes())
            time.sleep(self.every_s)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - self._start
            return
        self._done.set()
        assert self._thread is not None
        self._thread.join()
        self.bytes = max(0, max(self._peak, resident_bytes()) - self._start)
