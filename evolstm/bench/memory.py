"""Peak memory of a block of work: the growth of the process's resident set (CPU) or of torch's CUDA allocations.

On the CPU the kernel keeps the peak (VmHWM) and resets it on request (Linux >= 4.0, /proc/self/clear_refs), so
measuring costs nothing while the block runs (a sampling thread would take the GIL from the loop being timed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from types import TracebackType

import torch


def _trim_heap() -> None:
    """Give the C heap's free memory back to the OS (glibc's malloc_trim), so that the resident set the peak starts
    from holds live memory only; freed blocks kept in the heap would hide a row's growth."""
    name = ctypes.util.find_library("c")
    if name is not None:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


def _status_kb(field: str) -> int:
    """A size field of /proc/self/status (VmRSS, VmHWM) in KiB; 0 where there is no /proc."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    """Set the kernel's resident-set peak of this process to its current size; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """`with PeakMemory(device) as peak: ...` then `peak.bytes`: the highest growth over the start while the block
    ran: of the resident set on the CPU (0 where the kernel cannot reset its peak), of torch's allocated CUDA memory
    (`max_memory_allocated`) on a GPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.bytes = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
        else:
            _trim_heap()
            self._measured = _reset_peak()
            self._start = _status_kb("VmRSS") * 1024
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - self._start
        elif self._measured:
            self.bytes = max(0, _status_kb("VmHWM") * 1024 - self._start)
