"""The peephole LSTM cell (Gers & Schmidhuber 2000): gates also see the cell state. Its single-network core,
`PeepholeLSTM`, runs the population step with one member, since torch has no peephole LSTM of its own."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from evolstm.policies.cells.base import (
    Cell,
    Probe,
    Shape,
    State,
    core_layout,
    input_matrix,
    recurrent_matrix,
    step_layers,
)
from evolstm.policies.cells.lstm import doubled_cell_input, lstm_step


class PeepholeLSTM(nn.Module):
    """LSTM with peephole connections (Gers & Schmidhuber 2000): the gates also see the cell state."""

    def __init__(self, input_size: int, hidden: int, layers: int) -> None:
        super().__init__()
        for name, shape in core_layout(PeepholeCell, input_size, hidden, layers):
            self.register_parameter(name, nn.Parameter(torch.empty(shape)))
        bound = hidden**-0.5
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        self.layers = layers

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x [T, B, I], state (h, c) each [L, B, H] -> (outputs [T, B, H], state)."""
        named = {name: p.unsqueeze(0) for name, p in self.named_parameters()}
        weights = [PeepholeCell.step_weights(named, layer) for layer in range(self.layers)]
        h, c = (s.unsqueeze(1) for s in state)
        outputs = []
        for x_t in x:
            y, (h, c) = step_layers(PeepholeCell, weights, x_t.unsqueeze(0), (h, c))
            outputs.append(y[0])
        return torch.stack(outputs), (h.squeeze(1), c.squeeze(1))


class PeepholeCell(Cell):
    """Peephole LSTM with forget gates that start open; peephole rows: input, forget, output gate."""

    state_count = 2
    memory_gate = 1
    input_gate = 0

    @staticmethod
    def layer_layout(input_size: int, hidden: int, layer: int) -> list[tuple[str, Shape]]:
        """Gate rows as nn.LSTM orders them (input, forget, cell input, output), one bias, three peephole vectors."""
        return [
            (f"weight_ih_l{layer}", (4 * hidden, input_size)),
            (f"weight_hh_l{layer}", (4 * hidden, hidden)),
            (f"bias_l{layer}", (4 * hidden,)),
            (f"peephole_l{layer}", (3, hidden)),
        ]

    @staticmethod
    def build(input_size: int, hidden: int, layers: int) -> nn.Module:
        """PeepholeLSTM with forget-gate biases at +1 (Gers et al. 2000), as for the plain LSTM."""
        core = PeepholeLSTM(input_size, hidden, layers)
        with torch.no_grad():
            for layer in range(layers):
                getattr(core, f"bias_l{layer}")[hidden : 2 * hidden] = 1.0
        return core

    @staticmethod
    def sequence(core: nn.Module, x: Tensor, state: State) -> tuple[Tensor, State]:
        """PeepholeLSTM's pass; state (h, c)."""
        y, (h, c) = core(x, state)
        return y, (h, c)

    @staticmethod
    def step_weights(named: dict[str, Tensor], layer: int) -> dict[str, Tensor]:
        """Peephole vectors as [P, 3, 1, H], to scale the cell state [P, B, H] elementwise; cell-input columns
        doubled as for the LSTM."""
        return doubled_cell_input(
            {
                "w_in": input_matrix(named[f"weight_ih_l{layer}"]),
                "w_h": recurrent_matrix(named[f"weight_hh_l{layer}"]),
                "b": named[f"bias_l{layer}"].unsqueeze(1),
                "peep": named[f"peephole_l{layer}"].unsqueeze(2),
            }
        )

    @staticmethod
    def step(w: dict[str, Tensor], x: Tensor, state: State, probe: Probe | None) -> tuple[Tensor, State]:
        """Input and forget gates see c_{t-1}, the output gate sees c_t; probe as for the LSTM."""
        return lstm_step(w, x, state, probe, w["peep"])
