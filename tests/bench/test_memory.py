"""The benchmarks' memory probe: the growth of the resident set while a block runs, from the kernel's peak."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolstm.bench.memory import PeakMemory, _reset_peak


def test_peak_memory_sees_a_freed_allocation() -> None:
    if not _reset_peak():
        pytest.skip("this kernel cannot reset its resident-set peak (/proc/self/clear_refs)")
    with PeakMemory(torch.device("cpu")) as peak:
        block = np.ones(20_000_000)  # 160 MB, freed before the block ends
        del block
    assert 150e6 < peak.bytes < 400e6
    with PeakMemory(torch.device("cpu")) as small:
        np.ones(1000)
    assert small.bytes < 20e6
