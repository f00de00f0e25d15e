"""Initial parameter vectors: a freshly built network, with the biases of its memory-keeping gates set as asked.

The forget gate of an LSTM (the update gate of a GRU) decides how long the state lasts: with bias b its value at
zero input is sigmoid(b), so a memory fades as sigmoid(b)^t. +1 (Gers et al. 2000, the LSTM kinds' default) keeps
about 0.73 per step, too little for spans of hundreds of steps; "chrono" (Tallec & Ollivier 2018, "Can recurrent
neural networks warp time?") draws b ~ log U(1, T_max - 1) per unit, spreading the units' time scales up to T_max,
and sets an LSTM's input-gate bias to -b.
"""

from __future__ import annotations

import torch
from torch import Tensor

from evolstm.policies.network import Policy
from evolstm.policies.spec import PolicySpec


def initial_params(spec: PolicySpec, forget_bias: float | None = None, chrono: int | None = None) -> Tensor:
    """A network of `spec` initialised from torch's global generator, as a flat vector; with `forget_bias` every
    memory gate's bias is that value, with `chrono` (T_max >= 2) drawn by the chrono rule (a ValueError for a kind
    without a memory gate). Neither: the kind's own initialisation."""
    policy = Policy(spec)
    if forget_bias is None and chrono is None:
        return policy.flat()
    cell = spec.cell
    if cell.memory_gate is None:
        raise ValueError(f"the {spec.kind} kind has no forget (memory) gate to set")
    hidden = spec.hidden
    with torch.no_grad():
        for layer in range(spec.layers):
            first, *others = [b for name, b in policy.core.named_parameters() if _is_bias(name, layer)]
            if chrono is not None:
                keep = torch.log(torch.empty(hidden).uniform_(1.0, float(max(chrono - 1, 1))))
            else:
                keep = torch.full((hidden,), float(forget_bias))
            _gate(first, cell.memory_gate, hidden)[:] = keep
            if chrono is not None and cell.input_gate is not None:
                _gate(first, cell.input_gate, hidden)[:] = -keep
            for other in others:  # the second bias (nn.LSTM, nn.GRU add both) must not shift what was set
                _gate(other, cell.memory_gate, hidden).zero_()
                if chrono is not None and cell.input_gate is not None:
                    _gate(other, cell.input_gate, hidden).zero_()
    return policy.flat()


def _is_bias(name: str, layer: int) -> bool:
    """Whether `name` is one of layer `layer`'s gate-bias vectors (bias_ih_lK, bias_hh_lK, bias_lK)."""
    return name.startswith("bias") and name.endswith(f"_l{layer}")


def _gate(bias: Tensor, gate: int, hidden: int) -> Tensor:
    """The rows of gate number `gate` (in the cell's gate order) of a stacked bias vector."""
    return bias[gate * hidden : (gate + 1) * hidden]
