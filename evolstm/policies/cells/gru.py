"""The GRU cell: `nn.GRU` as the single-network core, its equations as batched matmuls for the population."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from evolstm.policies.cells.base import Cell, Probe, Shape, State, input_matrix, recurrent_matrix, tanh


class GRUCell(Cell):
    """GRU (Cho et al. 2014) as torch defines it: the reset gate scales the recurrent candidate term with its bias."""

    state_count = 1
    memory_gate = 1

    @staticmethod
    def layer_layout(input_size: int, hidden: int, layer: int) -> list[tuple[str, Shape]]:
        """nn.GRU's per-layer parameters: gate rows in the order reset, update, candidate."""
        return [
            (f"weight_ih_l{layer}", (3 * hidden, input_size)),
            (f"weight_hh_l{layer}", (3 * hidden, hidden)),
            (f"bias_ih_l{layer}", (3 * hidden,)),
            (f"bias_hh_l{layer}", (3 * hidden,)),
        ]

    @staticmethod
    def build(input_size: int, hidden: int, layers: int) -> nn.Module:
        """nn.GRU with torch's default initialisation."""
        return nn.GRU(input_size, hidden, layers)

    @staticmethod
    def sequence(core: nn.Module, x: Tensor, state: State) -> tuple[Tensor, State]:
        """nn.GRU's own pass; state (h,)."""
        y, h = core(x, state[0])
        return y, (h,)

    @staticmethod
    def step_weights(named: dict[str, Tensor], layer: int) -> dict[str, Tensor]:
        """The biases stay apart: the recurrent one is inside the reset gate's product."""
        return {
            "w_in": input_matrix(named[f"weight_ih_l{layer}"]),
            "w_h": recurrent_matrix(named[f"weight_hh_l{layer}"]),
            "b": named[f"bias_ih_l{layer}"].unsqueeze(1),
            "b_h": named[f"bias_hh_l{layer}"].unsqueeze(1),
        }

    @staticmethod
    def step(w: dict[str, Tensor], x: Tensor, state: State, probe: Probe | None) -> tuple[Tensor, State]:
        """h = (1 - z) n + z h; probe: reset and update gates and the candidate n."""
        (h,) = state
        gi = torch.baddbmm(w["b"], x, w["w_in"])
        gh = torch.baddbmm(w["b_h"], h, w["w_h"])
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = tanh(i_n + r * h_n)
        h = torch.lerp(n, h, z)
        if probe is not None:
            probe.append({"reset_gate": r, "update_gate": z, "candidate": n})
        return h, (h,)
