"""The LSTM cell: `nn.LSTM` as the single-network core, its equations as batched matmuls for the population."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from evolstm.policies.cells.base import Cell, Probe, Shape, State, input_matrix, recurrent_matrix, tanh


class LSTMCell(Cell):
    """LSTM (Hochreiter & Schmidhuber 1997) with forget gates (Gers et al. 2000) that start open."""

    state_count = 2
    memory_gate = 1
    input_gate = 0

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
        """Both biases summed once, as nn.LSTM adds them; cell-input columns doubled (see lstm_step)."""
        return doubled_cell_input(
            {
                "w_in": input_matrix(named[f"weight_ih_l{layer}"]),
                "w_h": recurrent_matrix(named[f"weight_hh_l{layer}"]),
                "b": (named[f"bias_ih_l{layer}"] + named[f"bias_hh_l{layer}"]).unsqueeze(1),
            }
        )

    @staticmethod
    def step(w: dict[str, Tensor], x: Tensor, state: State, probe: Probe | None) -> tuple[Tensor, State]:
        """c = f c + i g, h = o tanh(c); probe: input/forget/output gates and the cell input."""
        return lstm_step(w, x, state, probe)


def doubled_cell_input(w: dict[str, Tensor]) -> dict[str, Tensor]:
    """Step weights (w_in, w_h, b: [..., 4H], gate columns i, f, g, o) with the cell input's columns times 2, exactly
    (a power of two), so that lstm_step gets 2g from the matmuls and tanh(g) = 2 sigmoid(2g) - 1 from one sigmoid."""
    doubled = dict(w)
    for name in ("w_in", "w_h", "b"):
        quarter = w[name].shape[-1] // 4
        scale = torch.ones(4 * quarter, dtype=w[name].dtype, device=w[name].device)
        scale[2 * quarter : 3 * quarter] = 2.0
        doubled[name] = w[name] * scale
    return doubled


def lstm_step(
    w: dict[str, Tensor], x: Tensor, state: State, probe: Probe | None, peep: Tensor | None = None
) -> tuple[Tensor, State]:
    """One LSTM layer step for every member, with weights from `doubled_cell_input` (one sigmoid over all four
    gates); with `peep` [P, 3, 1, H] the input and forget gates also see c_{t-1} and the output gate sees c_t (the
    peephole LSTM)."""
    h, c = state
    gates = torch.baddbmm(torch.baddbmm(w["b"], x, w["w_in"]), h, w["w_h"])
    if peep is None:
        input_gate, forget_gate, doubled_input, output_gate = torch.sigmoid(gates).chunk(4, dim=-1)
    else:
        i, f, g, o = gates.chunk(4, dim=-1)
        input_gate, forget_gate = torch.sigmoid(i + peep[:, 0] * c), torch.sigmoid(f + peep[:, 1] * c)
        doubled_input = torch.sigmoid(g)
    cell_input = 2.0 * doubled_input - 1.0  # tanh(g)
    c = forget_gate * c + input_gate * cell_input
    if peep is not None:
        output_gate = torch.sigmoid(o + peep[:, 2] * c)
    h = output_gate * tanh(c)
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
