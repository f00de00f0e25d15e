"""Initial vectors: forget-gate (GRU update-gate) biases as asked, chrono's time scales, the rest untouched."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from evolstm.config import PolicyConfig
from evolstm.policies import CELLS, Policy, PolicySpec
from evolstm.policies.init import initial_params

HIDDEN, LAYERS = 6, 2
GATED = [kind for kind, cell in CELLS.items() if cell.memory_gate is not None]


def _effective_biases(spec: PolicySpec, flat: Tensor) -> list[Tensor]:
    """Per layer, the sum of its bias vectors (what the gates add), from the flat vector."""
    policy = Policy(spec)
    policy.load_flat(flat)
    return [
        sum(b for name, b in policy.core.named_parameters() if name.startswith("bias") and name.endswith(f"_l{layer}"))
        for layer in range(spec.layers)
    ]


def _gate(bias: Tensor, gate: int) -> Tensor:
    return bias[gate * HIDDEN : (gate + 1) * HIDDEN]


@pytest.mark.parametrize("kind", GATED)
def test_forget_bias_sets_every_layers_memory_gate_and_nothing_else(kind: str) -> None:
    spec = PolicySpec(kind, 3, 2, True, HIDDEN, LAYERS)
    torch.manual_seed(0)
    default = initial_params(spec)
    torch.manual_seed(0)
    set_to_four = initial_params(spec, forget_bias=4.0)
    gate = spec.cell.memory_gate
    for before, after in zip(_effective_biases(spec, default), _effective_biases(spec, set_to_four)):
        assert torch.all(_gate(after, gate) == 4.0)
        others = torch.ones_like(after, dtype=torch.bool)
        others[gate * HIDDEN : (gate + 1) * HIDDEN] = False
        assert torch.equal(after[others], before[others])


@pytest.mark.parametrize("kind", GATED)
def test_chrono_spreads_time_scales_up_to_t_max_and_closes_lstm_input_gates(kind: str) -> None:
    spec = PolicySpec(kind, 3, 2, True, 200, 1)
    torch.manual_seed(0)
    (bias,) = _effective_biases(spec, initial_params(spec, chrono=1000))
    keep = bias[spec.cell.memory_gate * 200 : (spec.cell.memory_gate + 1) * 200]
    assert keep.min() >= 0.0 and keep.max() <= math.log(999) + 1e-5
    assert keep.max() > math.log(500)  # uniform in (1, 999) before the log: some units remember for hundreds of steps
    if spec.cell.input_gate is not None:
        assert torch.equal(bias[spec.cell.input_gate * 200 : (spec.cell.input_gate + 1) * 200], -keep)


def test_default_is_the_kinds_own_initialisation() -> None:
    spec = PolicySpec("lstm", 3, 2, True, HIDDEN, LAYERS)
    torch.manual_seed(3)
    expected = Policy(spec).flat()
    torch.manual_seed(3)
    assert torch.equal(initial_params(spec), expected)


@pytest.mark.parametrize("kind", [kind for kind in CELLS if kind not in GATED])
def test_kinds_without_a_memory_gate_refuse_gate_initialisation(kind: str) -> None:
    with pytest.raises(ValueError, match="forget"):
        initial_params(PolicySpec(kind, 3, 2, True, HIDDEN, 1), forget_bias=2.0)
    with pytest.raises(ValueError, match="has none"):
        PolicyConfig(kind=kind, chrono=100)


def test_forget_bias_and_chrono_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="exclude"):
        PolicyConfig(forget_bias=3.0, chrono=100)
