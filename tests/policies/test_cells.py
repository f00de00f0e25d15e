"""The cell registry: a cell per configurable kind, flat layouts that match the modules, forget gates start open."""

from __future__ import annotations

import typing
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from evolstm.config import PolicyConfig
from evolstm.policies import CELLS, Policy, PolicySpec

#: Kinds with a forget gate -> the forget-gate slice's effective bias (what the gate adds) of one layer of the core.
FORGET_BIAS: dict[str, Callable[[nn.Module, int], Tensor]] = {
    "lstm": lambda core, layer: getattr(core, f"bias_ih_l{layer}") + getattr(core, f"bias_hh_l{layer}"),
    "peephole": lambda core, layer: getattr(core, f"bias_l{layer}"),
}


def test_cells_match_config_kinds() -> None:
    assert set(CELLS) == set(typing.get_args(PolicyConfig.model_fields["kind"].annotation))


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("discrete", [True, False])
@pytest.mark.parametrize("kind", CELLS)
def test_spec_layout_is_the_modules_parameter_list(kind: str, discrete: bool, layers: int) -> None:
    spec = PolicySpec(kind, 3, 2, discrete, 5, layers)
    policy = Policy(spec)
    assert sum(torch.Size(shape).numel() for _, shape in spec.layout) == spec.num_params == policy.num_params
    assert list(spec.layout) == [(name, tuple(p.shape)) for name, p in policy.named_parameters()]


@pytest.mark.parametrize("kind", sorted(FORGET_BIAS))
def test_forget_gate_bias_starts_at_one(kind: str) -> None:
    hidden = 5
    core = Policy(PolicySpec(kind, 3, 2, True, hidden, 2)).core
    for layer in range(2):
        bias = FORGET_BIAS[kind](core, layer)
        assert torch.all(bias[hidden : 2 * hidden] == 1.0), layer
        assert not torch.all(bias == 1.0), layer  # only the forget gate's slice
