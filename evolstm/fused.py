"""`evaluation.compile: true`: the rollout's loop step (population policy step, greedy action, env step and the
bookkeeping of returns, lengths and observation sums) compiled whole by torch.compile: inductor's C++ code on the
CPU, Triton kernels on a GPU. One program per task, batch size and kind of normalizer (identity or not); a new
population or normalizer of the same shapes reuses it.

Compiled kernels may round differently from eager ones (fused elementwise loops, other vectorized math), so a
compiled run is not bit-identical to an eager one; eager stays the default. Only scoring (ES fitness, greedy and
final evaluations) is compiled; REINFORCE's sampled collections stay eager.
"""

from __future__ import annotations

from typing import Any

import torch
import torch._dynamo

from evolstm.rollout import Carry, Lockstep, Played, lockstep

#: compiled programs kept per process: one per (task, batch size, device, identity normalizer or not), where the
#: batch sizes of a scoring are its population's and the power-of-two batches that compaction shrinks it to (up to
#: log2(P) + 1); a run's population, greedy and final batches need a few dozen, a benchmark sweep over population
#: sizes more (torch's default of 8 would fall back to eager without saying so)
RECOMPILE_LIMIT = 256


def compiled_lockstep(step: Lockstep = lockstep) -> Lockstep:
    """`rollout.lockstep` (or another loop step, e.g. `rollout.greedy_steps(n)`) compiled (fullgraph: a graph break
    is an error, not a silent slowdown; static shapes). On the CPU inductor's C++ wrapper makes the program's calls
    (its Python wrapper costs more than DPNV's kernels: 2.4x less time per call at 16 rows, 1.9x at 256)."""
    compiled: dict[str, Lockstep] = {}  # per device type

    def step_compiled(*args: Any) -> tuple[Carry, Played]:
        # dynamo's config is per thread: raise the limit in whichever thread scores (e.g. `bench poles`' runs)
        if torch._dynamo.config.recompile_limit < RECOMPILE_LIMIT:
            torch._dynamo.config.recompile_limit = RECOMPILE_LIMIT
        device = args[-1].alive.device.type  # the carry's
        if device not in compiled:
            options = {"cpp_wrapper": device == "cpu"}
            compiled[device] = torch.compile(step, fullgraph=True, dynamic=False, options=options)
        return compiled[device](*args)

    return step_compiled
