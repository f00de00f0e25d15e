"""The peephole LSTM, both forms, against a reference written here from Gers & Schmidhuber (2000), independent of
evolstm's step functions (the module form runs the population step, so comparing the two would prove nothing)."""

from __future__ import annotations

import torch
from torch import Tensor

from evolstm.policies import Policy, PolicySpec, PopulationPolicy

HIDDEN, LAYERS, OBS, ACTIONS = 5, 2, 3, 4
SPEC = PolicySpec("peephole", OBS, ACTIONS, True, HIDDEN, LAYERS)


def _reference(w: dict[str, Tensor], x: Tensor) -> tuple[Tensor, Tensor, Tensor, list[list[dict[str, Tensor]]]]:
    """One member: x [T, B, obs] -> (head outputs [T, B, A], h [L, B, H], c [L, B, H], gates per step and layer).

    i = σ(W_i x + U_i h + b_i + p_i ⊙ c_{t-1}), f = σ(W_f x + U_f h + b_f + p_f ⊙ c_{t-1}),
    g = tanh(W_g x + U_g h + b_g), c_t = f c_{t-1} + i g, o = σ(W_o x + U_o h + b_o + p_o ⊙ c_t), h_t = o tanh(c_t).
    """
    batch = x.shape[1]
    h = [torch.zeros(batch, HIDDEN) for _ in range(LAYERS)]
    c = [torch.zeros(batch, HIDDEN) for _ in range(LAYERS)]
    outputs, gates = [], []
    for x_t in x:
        inputs, step_gates = x_t, []
        for layer in range(LAYERS):
            W_i, W_f, W_g, W_o = w[f"core.weight_ih_l{layer}"].split(HIDDEN)
            U_i, U_f, U_g, U_o = w[f"core.weight_hh_l{layer}"].split(HIDDEN)
            b_i, b_f, b_g, b_o = w[f"core.bias_l{layer}"].split(HIDDEN)
            p_i, p_f, p_o = w[f"core.peephole_l{layer}"]
            i = torch.sigmoid(inputs @ W_i.T + h[layer] @ U_i.T + b_i + p_i * c[layer])
            f = torch.sigmoid(inputs @ W_f.T + h[layer] @ U_f.T + b_f + p_f * c[layer])
            g = torch.tanh(inputs @ W_g.T + h[layer] @ U_g.T + b_g)
            c[layer] = f * c[layer] + i * g
            o = torch.sigmoid(inputs @ W_o.T + h[layer] @ U_o.T + b_o + p_o * c[layer])
            h[layer] = o * torch.tanh(c[layer])
            inputs = h[layer]
            step_gates.append({"input_gate": i, "forget_gate": f, "output_gate": o, "cell_input": g})
        outputs.append(inputs @ w["head.weight"].T + w["head.bias"])
        gates.append(step_gates)
    return torch.stack(outputs), torch.stack(h), torch.stack(c), gates


def _members(count: int) -> list[dict[str, Tensor]]:
    """`count` random parameter sets (far from the init, so every weight matters) as named tensors."""
    torch.manual_seed(1)
    members = []
    for _ in range(count):
        policy = Policy(SPEC)
        policy.load_flat(torch.randn(policy.num_params) * 0.5)
        members.append({name: p.detach().clone() for name, p in policy.named_parameters()})
    return members


def test_peephole_population_matches_reference_equations() -> None:
    members = _members(3)
    flat = torch.stack([torch.cat([p.reshape(-1) for p in m.values()]) for m in members])
    population = PopulationPolicy(SPEC, flat)
    x = torch.randn(6, 3, 2, OBS)  # [T, P, B, obs]
    state = population.initial_state(2)
    outputs, probes = [], []
    for x_t in x:
        probe: list[dict[str, Tensor]] = []
        out, state = population.step(x_t, state, probe)
        outputs.append(out)
        probes.append(probe)
    for p, w in enumerate(members):
        ref_out, ref_h, ref_c, ref_gates = _reference(w, x[:, p])
        torch.testing.assert_close(torch.stack(outputs)[:, p], ref_out)
        torch.testing.assert_close(state[0][:, p], ref_h)
        torch.testing.assert_close(state[1][:, p], ref_c)
        for probe, step_gates in zip(probes, ref_gates):
            for layer_probe, layer_gates in zip(probe, step_gates, strict=True):
                assert layer_probe.keys() == layer_gates.keys()
                for name, gate in layer_gates.items():
                    torch.testing.assert_close(layer_probe[name][p], gate, msg=name)


def test_peephole_follows_gers_schmidhuber_equations() -> None:
    (w,) = _members(1)
    policy = Policy(SPEC)
    policy.load_state_dict(w)
    x = torch.randn(4, 2, OBS)
    ref_out, ref_h, ref_c, _ = _reference(w, x)
    with torch.no_grad():
        out, (h, c) = policy(x, policy.initial_state(2))
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)
    torch.testing.assert_close(c, ref_c)
