"""What a policy is (`PolicySpec`: kind, sizes, action space) and what follows from it without building a network:
the flat parameter layout, zero states and deterministic actions."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import gymnasium
import numpy as np
import torch
from torch import Tensor

from evolstm.policies.cells import cell_for
from evolstm.policies.cells.base import Cell, Shape, State, core_layout


@dataclass(frozen=True)
class PolicySpec:
    """Everything needed to build a policy: network shape and the action space it acts in."""

    kind: str
    obs_dim: int
    action_dim: int
    discrete: bool
    hidden: int
    layers: int
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    #: MultiDiscrete(nvec) actions: one block of nvec[i] logits per dimension (action_dim = sum(nvec)); None otherwise
    action_nvec: tuple[int, ...] | None = None

    @classmethod
    def for_spaces(
        cls, kind: str, hidden: int, layers: int, observation_space: gymnasium.Space, action_space: gymnasium.Space
    ) -> PolicySpec:
        """Spec for a flat Box observation space and a Discrete, 1-D MultiDiscrete or Box action space."""
        if not isinstance(observation_space, gymnasium.spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"observations must be a flat Box, got {observation_space}")
        obs_dim = observation_space.shape[0]
        if obs_dim == 0:
            raise ValueError(f"observations must have at least one entry, got {observation_space}")
        if isinstance(action_space, gymnasium.spaces.Discrete):
            return cls(kind, obs_dim, int(action_space.n), True, hidden, layers)
        if isinstance(action_space, gymnasium.spaces.MultiDiscrete) and action_space.nvec.ndim == 1:
            nvec = tuple(int(n) for n in action_space.nvec)
            if nvec:
                return cls(kind, obs_dim, sum(nvec), True, hidden, layers, action_nvec=nvec)
        if isinstance(action_space, gymnasium.spaces.Box) and len(action_space.shape) == 1 and action_space.shape[0]:
            low, high = action_space.low.astype(float), action_space.high.astype(float)
            bounded = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
            return cls(
                kind,
                obs_dim,
                action_space.shape[0],
                False,
                hidden,
                layers,
                tuple(low.tolist()) if bounded else None,
                tuple(high.tolist()) if bounded else None,
            )
        raise ValueError(f"actions must be Discrete, a 1-D MultiDiscrete or a flat Box, got {action_space}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON metadata of exported policies); action_nvec only for MultiDiscrete actions, so that
        the metadata of other policies is as it always was."""
        data = asdict(self)
        if data["action_nvec"] is None:
            del data["action_nvec"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicySpec:
        """Inverse of to_dict; tuples restored."""
        data = dict(data)
        for key in ("action_low", "action_high", "action_nvec"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

    @property
    def cell(self) -> type[Cell]:
        """The cell of this kind (ValueError for an unknown kind)."""
        return cell_for(self.kind)

    @cached_property
    def layout(self) -> tuple[tuple[str, Shape], ...]:
        """(name, shape) of every parameter in flat-vector order: `Policy(self).named_parameters()`, core then head."""
        core = core_layout(self.cell, self.obs_dim, self.hidden, self.layers)
        head = [("head.weight", (self.action_dim, self.hidden)), ("head.bias", (self.action_dim,))]
        return tuple((f"core.{name}", shape) for name, shape in core) + tuple(head)

    @cached_property
    def num_params(self) -> int:
        """Length of the flat parameter vector."""
        return sum(math.prod(shape) for _, shape in self.layout)

    def zero_state(self, batch_shape: tuple[int, ...], device: torch.device) -> State:
        """Zero recurrent state, one tensor [layers, *batch_shape, hidden] per state the cell keeps."""
        return tuple(
            torch.zeros(self.layers, *batch_shape, self.hidden, device=device) for _ in range(self.cell.state_count)
        )


def select_action(spec: PolicySpec, out: Tensor) -> Tensor:
    """Deterministic action from head outputs: argmax for discrete (within each dimension's block of logits for
    MultiDiscrete: int64 [..., len(nvec)]), tanh squashed into bounds for Box."""
    if spec.action_nvec is not None:
        return torch.stack([block.argmax(dim=-1) for block in out.split(spec.action_nvec, dim=-1)], dim=-1)
    if spec.discrete:
        return out.argmax(dim=-1)
    if spec.action_low is None:
        return out
    low = torch.tensor(spec.action_low, dtype=out.dtype, device=out.device)
    high = torch.tensor(spec.action_high, dtype=out.dtype, device=out.device)
    return low + (torch.tanh(out) + 1.0) * 0.5 * (high - low)
