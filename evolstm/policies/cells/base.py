"""The contract every network kind's cell fulfils, and the population step that runs any cell layer by layer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]
Shape = tuple[int, ...]
Probe = list[dict[str, Tensor]]

#: Batched GEMM (baddbmm) with an inner size below 4 took ~10x longer than with 4 on CPU (MKL, measured: 200 us vs
#: 18 us for 256 members, 1 x 2 @ 2 x 128), so input weights are zero-padded to at least this many rows.
MIN_INNER = 4


class Cell(ABC):
    """One network kind in both forms: its flat layout, its single-network core and its one-layer population step.

    Cells are stateless classes (never instantiated); the single form owns the parameters, the population form gets
    per-member tensors [P, *shape] named as in `layer_layout`.
    """

    #: Recurrent state tensors per layer: (h, c) for LSTMs, (h,) for GRU, none for feed-forward.
    state_count: ClassVar[int]
    #: Block of the gate biases (in the cell's gate order) whose gate keeps the state: an LSTM's forget gate, a GRU's
    #: update gate; None for kinds without one. `input_gate`: the block of an LSTM's input gate (chrono sets it too).
    memory_gate: ClassVar[int | None] = None
    input_gate: ClassVar[int | None] = None

    @staticmethod
    @abstractmethod
    def layer_layout(input_size: int, hidden: int, layer: int) -> list[tuple[str, Shape]]:
        """Names and shapes of one layer's parameters, in the order the core module lists them."""

    @staticmethod
    @abstractmethod
    def build(input_size: int, hidden: int, layers: int) -> nn.Module:
        """The single-network core, initialised from torch's global generator (this fixes the initial vectors)."""

    @staticmethod
    @abstractmethod
    def sequence(core: nn.Module, x: Tensor, state: State) -> tuple[Tensor, State]:
        """Whole-sequence pass of the core: x [T, B, I], state tensors [L, B, H] -> (last layer's outputs, state)."""

    @staticmethod
    @abstractmethod
    def step_weights(named: dict[str, Tensor], layer: int) -> dict[str, Tensor]:
        """One layer's population-step weights ([P, in, out] matrices, [P, 1, out] biases) from per-member tensors."""

    @staticmethod
    @abstractmethod
    def step(w: dict[str, Tensor], x: Tensor, state: State, probe: Probe | None) -> tuple[Tensor, State]:
        """One layer, one step, every member: x [P, B, in], this layer's state [P, B, H] each -> (output, state).

        With `probe`, appends the layer's gate activations, each [P, B, H].
        """


def tanh(x: Tensor) -> Tensor:
    """tanh(x) as 2 sigmoid(2x) - 1 (within 2e-7), for the population steps: torch's CPU tanh costs about 5x its
    sigmoid per element (measured on torch 2.13: 3.7 ns against 0.7 ns), and the recurrent step is mostly gates."""
    return 2.0 * torch.sigmoid(2.0 * x) - 1.0


def core_layout(cell: type[Cell], input_size: int, hidden: int, layers: int) -> list[tuple[str, Shape]]:
    """Names and shapes of all the core's parameters, layer after layer (layer 0 sees the inputs, later ones h)."""
    return [
        entry
        for layer in range(layers)
        for entry in cell.layer_layout(input_size if layer == 0 else hidden, hidden, layer)
    ]


def input_matrix(weight: Tensor) -> Tensor:
    """Input weights [P, out, in] as [P, in', out], zero-padded to in' >= MIN_INNER rows."""
    w_in = weight.transpose(1, 2)
    return torch.nn.functional.pad(w_in, (0, 0, 0, max(0, MIN_INNER - w_in.shape[1]))).contiguous()


def recurrent_matrix(weight: Tensor) -> Tensor:
    """Recurrent weights [P, out, H] as [P, H, out]."""
    return weight.transpose(1, 2).contiguous()


def step_layers(
    cell: type[Cell], weights: list[dict[str, Tensor]], x: Tensor, state: State, probe: Probe | None = None
) -> tuple[Tensor, State]:
    """One step of every layer for every member: x [P, B, I], state tensors [L, P, B, H] -> (last output, state)."""
    per_layer = []
    for layer, w in enumerate(weights):
        missing = w["w_in"].shape[1] - x.shape[-1]
        x = torch.nn.functional.pad(x, (0, missing)) if missing else x  # see MIN_INNER
        x, layer_state = cell.step(w, x, tuple(s[layer] for s in state), probe)
        per_layer.append(layer_state)
    return x, tuple(torch.stack(tensors) for tensors in zip(*per_layer))
