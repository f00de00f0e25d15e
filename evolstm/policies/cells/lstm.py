"""The LSTM cell: `nn.LSTM` as the single-network core, its equations as batched matmuls for the population."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from evolstm.policies.cells.base import Cell, Probe, Shape, State, input_matrix, recurrent_matrix


class LSTMCell(Cell):
    """LSTM (Hochreiter & Schmidhuber 1997) with forget gates (Gers et al. 2000) that start open."""

    state_count = 2

    @staticmethod
    def layer_layout(input_size: int, hidden: int, layer: int) -> list[tuple[str, Shape]]:
        """nn.LSTM's per-layer parameters: gate rows in the order input, forget, cell input, output."""
        return [
            (f"weight_ih_l{layer}", (4 * hidden, input_size)),
            (f"weight_hh_l{layer}", (4 * hidden, hidden)),
            (f"bias_ih_l{layer}", (4 * hidden,)),
            (f"bias_hh_l{layer}", (4 * hidden,)),
        ]

    @staticmethod
    def build(input_size: int, hidden: int, layers: int) -> nn.Module:
        """nn.LSTM with forget-gate biases at +1 (Gers et al. 2000), so memories persist before learning shapes them."""
        core = nn.LSTM(input_size, hidden, layers)
        with torch.no_grad():
            for layer in range(layers):
                getattr(core, f"bias_ih_l{layer}")[hidden : 2 * hidden] = 1.0
                getattr(core, f"bias_hh_l{layer}")[hidden : 2 * hidden] = 0.0
        return core

    @staticmethod
    def sequence(core: nn.Module, x: Tensor, state: State) -> tuple[Tensor, State]:
        """nn.LSTM's own pass; state (h, c)."""
        y, (h, c) = core(x, state)
        return y, (h, c)

    @staticmethod
    def step_weights(named: dict[str, Tensor], layer: int) -> dict[str, Tensor]:
        """Both biases summed once, as nn.LSTM adds them."""
        return {
            "w_in": input_matrix(named[f"weight_ih_l{layer}"]),
            "w_h": recurrent_matrix(named[f"weight_hh_l{layer}"]),
            "b": (named[f"bias_ih_l{layer}"] + named[f"bias_hh_l{layer}"]).unsqueeze(1),
        }

    @staticmethod
    def step(w: dict[str, Tensor], x: Tensor, state: State, probe: Probe | None) -> tuple[Tensor, State]:
        """c = f c + i g, h = o tanh(c); probe: input/forget/output gates and the cell input."""
        return lstm_step(w, x, state, probe)


def lstm_step(
    w: dict[str, Tensor], x: Tensor, state: State, probe: Probe | None, peep: Tensor | None = None
) -> tuple[Tensor, State]:
    """One LSTM layer step for every member; with `peep` [P, 3, 1, H] the input and forget gates also see c_{t-1}
    and the output gate sees c_t (the peephole LSTM)."""
    h, c = state
    gates = torch.baddbmm(torch.baddbmm(w["b"], x, w["w_in"]), h, w["w_h"])
    i, f, g, o = gates.chunk(4, dim=-1)
    if peep is not None:
        i, f = i + peep[:, 0] * c, f + peep[:, 1] * c
    input_gate, forget_gate, cell_input = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
    c = forget_gate * c + input_gate * cell_input
    output_gate = torch.sigmoid(o if peep is None else o + peep[:, 2] * c)
    h = output_gate * torch.tanh(c)
    if probe is not None:
        probe.append(
            {
                "input_gate": input_gate,
                "forget_gate": forget_gate,
                "output_gate": output_gate,
                "cell_input": cell_input,
            }
        )
    return h, (h, c)
