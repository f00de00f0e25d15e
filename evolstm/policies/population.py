"""`PopulationPolicy`: P parameter sets stepped at once with batched matmuls over per-member weights (vmap has no
rule for `aten::lstm`), each member on its own batch of episodes."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor

from evolstm.policies.cells.base import Probe, State, step_layers
from evolstm.policies.spec import PolicySpec


class PopulationPolicy:
    """P parameter sets run at once: obs [P, B, obs_dim] -> outputs [P, B, action_dim], each member its own weights."""

    def __init__(self, spec: PolicySpec, params: Tensor) -> None:
        if params.ndim != 2 or params.shape[1] != spec.num_params:
            raise ValueError(f"params must be [P, {spec.num_params}], got {tuple(params.shape)}")
        self.spec = spec
        self.popsize = params.shape[0]
        named: dict[str, Tensor] = {}
        offset = 0
        for name, shape in spec.layout:
            size = math.prod(shape)
            named[name] = params[:, offset : offset + size].reshape(self.popsize, *shape)
            offset += size
        core = {name.removeprefix("core."): tensor for name, tensor in named.items() if name.startswith("core.")}
        self._weights = [spec.cell.step_weights(core, layer) for layer in range(spec.layers)]
        self._head_w = named["head.weight"].transpose(1, 2).contiguous()
        self._head_b = named["head.bias"].unsqueeze(1)

    def select(self, members: Tensor) -> PopulationPolicy:
        """Only the members `members` (int64 indices), their weights gathered once: for a rollout that stops stepping
        members whose episodes have all ended (each member's arithmetic is its own, so results do not change)."""
        chosen = copy.copy(self)
        chosen.popsize = len(members)
        chosen._weights = [{name: w.index_select(0, members) for name, w in layer.items()} for layer in self._weights]
        chosen._head_w, chosen._head_b = self._head_w.index_select(0, members), self._head_b.index_select(0, members)
        return chosen

    def initial_state(self, batch: int) -> State:
        """Zero state for `batch` episodes per member, each tensor [L, P, batch, H]."""
        return self.spec.zero_state((self.popsize, batch), self._head_w.device)

    def step(self, obs: Tensor, state: State, probe: Probe | None = None) -> tuple[Tensor, State]:
        """One time step for every member and episode; `probe` (if given) gets each layer's gate activations.

        Gate names per layer: LSTMs input_gate/forget_gate/output_gate/cell_input, GRU reset_gate/update_gate/
        candidate, feed-forward the layer's output as "hidden"; each [P, B, H].
        """
        y, state = step_layers(self.spec.cell, self._weights, obs, state, probe)
        return torch.baddbmm(self._head_b, y, self._head_w), state
