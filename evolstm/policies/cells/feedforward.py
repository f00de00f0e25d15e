"""The feed-forward cell: tanh layers without state, the memoryless baseline for the recurrent kinds."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from evolstm.policies.cells.base import Cell, Probe, Shape, State, input_matrix, tanh


class FeedForwardCell(Cell):
    """An MLP of `layers` tanh layers (nn.Sequential of Linear, Tanh pairs); the state stays empty."""

    state_count = 0

    @staticmethod
    def layer_layout(input_size: int, hidden: int, layer: int) -> list[tuple[str, Shape]]:
        """The layer's Linear, at index 2 * layer of the Sequential (the Tanh modules have no parameters)."""
        return [(f"{2 * layer}.weight", (hidden, input_size)), (f"{2 * layer}.bias", (hidden,))]

    @staticmethod
    def build(input_size: int, hidden: int, layers: int) -> nn.Module:
        """Linear, Tanh, Linear, Tanh, ... with torch's default initialisation."""
        sizes = [input_size] + [hidden] * layers
        return nn.Sequential(*(m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.Tanh())))

    @staticmethod
    def sequence(core: nn.Module, x: Tensor, state: State) -> tuple[Tensor, State]:
        """Every step on its own; the (empty) state passes through."""
        return core(x), state

    @staticmethod
    def step_weights(named: dict[str, Tensor], layer: int) -> dict[str, Tensor]:
        """The Linear's weight and bias."""
        return {"w_in": input_matrix(named[f"{2 * layer}.weight"]), "b": named[f"{2 * layer}.bias"].unsqueeze(1)}

    @staticmethod
    def step(w: dict[str, Tensor], x: Tensor, state: State, probe: Probe | None) -> tuple[Tensor, State]:
        """tanh(W x + b); probe: the layer's output as "hidden"."""
        x = tanh(torch.baddbmm(w["b"], x, w["w_in"]))
        if probe is not None:
            probe.append({"hidden": x})
        return x, ()
