"""The plain recurrent (Elman) cell: `nn.RNN` with tanh as the single-network core, its step as batched matmuls for
the population. Small fully recurrent tanh networks are the classic neuroevolution controllers (e.g. the one-unit
network of the NES paper on double pole balancing without velocities)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from evolstm.policies.cells.base import Cell, Probe, Shape, State, input_matrix, recurrent_matrix, tanh


class RNNCell(Cell):
    """Elman network as torch defines it: h = tanh(W_ih x + b_ih + W_hh h + b_hh)."""

    state_count = 1

    @staticmethod
    def layer_layout(input_size: int, hidden: int, layer: int) -> list[tuple[str, Shape]]:
        """nn.RNN's per-layer parameters."""
        return [
            (f"weight_ih_l{layer}", (hidden, input_size)),
            (f"weight_hh_l{layer}", (hidden, hidden)),
            (f"bias_ih_l{layer}", (hidden,)),
            (f"bias_hh_l{layer}", (hidden,)),
        ]

    @staticmethod
    def build(input_size: int, hidden: int, layers: int) -> nn.Module:
        """nn.RNN (tanh) with torch's default initialisation."""
        return nn.RNN(input_size, hidden, layers, nonlinearity="tanh")

    @staticmethod
    def sequence(core: nn.Module, x: Tensor, state: State) -> tuple[Tensor, State]:
        """nn.RNN's own pass; state (h,)."""
        y, h = core(x, state[0])
        return y, (h,)

    @staticmethod
    def step_weights(named: dict[str, Tensor], layer: int) -> dict[str, Tensor]:
        """Both biases as one (they are only ever added together)."""
        return {
            "w_in": input_matrix(named[f"weight_ih_l{layer}"]),
            "w_h": recurrent_matrix(named[f"weight_hh_l{layer}"]),
            "b": (named[f"bias_ih_l{layer}"] + named[f"bias_hh_l{layer}"]).unsqueeze(1),
        }

    @staticmethod
    def step(w: dict[str, Tensor], x: Tensor, state: State, probe: Probe | None) -> tuple[Tensor, State]:
        """h = tanh(x W_in + h W_h + b); probe: the pre-activation."""
        (h,) = state
        pre = torch.baddbmm(torch.baddbmm(w["b"], x, w["w_in"]), h, w["w_h"])
        h = tanh(pre)
        if probe is not None:
            probe.append({"pre_activation": pre})
        return h, (h,)
