"""Policies: shapes, flat-vector round trip, and the population form equal to the single network, for every kind."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch

from evolstm.config import POLICY_KINDS
from evolstm.policies import Policy, PolicySpec, PopulationPolicy, select_action

OBS = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)
ACTIONS = {
    "discrete": gymnasium.spaces.Discrete(4),
    "box": gymnasium.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32)),
}


def _spec(kind: str, actions: str, layers: int = 1) -> PolicySpec:
    return PolicySpec.for_spaces(kind, 5, layers, OBS, ACTIONS[actions])


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("actions", list(ACTIONS))
@pytest.mark.parametrize("kind", POLICY_KINDS)
def test_shapes_and_flat_round_trip(kind: str, actions: str, layers: int) -> None:
    spec = _spec(kind, actions, layers)
    policy = Policy(spec)
    vector = torch.randn(policy.num_params)
    policy.load_flat(vector)
    assert torch.equal(policy.flat(), vector)
    out, state = policy(torch.randn(7, 2, 3), policy.initial_state(2))
    assert out.shape == (7, 2, spec.action_dim)
    assert all(s.shape == (layers, 2, 5) for s in state)
    with pytest.raises(ValueError, match="parameter vector has shape"):
        policy.load_flat(torch.zeros(3))


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind", POLICY_KINDS)
def test_population_step_equals_each_members_network(kind: str, layers: int) -> None:
    torch.manual_seed(0)
    spec = _spec(kind, "discrete", layers)
    members = [Policy(spec) for _ in range(3)]
    for member in members:  # move away from the default init so every weight matters
        member.load_flat(member.flat() + 0.3 * torch.randn(member.num_params))
    population = PopulationPolicy(spec, torch.stack([m.flat() for m in members]))
    obs = torch.randn(9, 3, 2, 3)  # [T, P, B, obs]
    state = population.initial_state(2)
    steps = []
    for x in obs:
        out, state = population.step(x, state)
        steps.append(out)
    stepped = torch.stack(steps)
    for p, member in enumerate(members):
        whole, final = member(obs[:, p], member.initial_state(2))
        torch.testing.assert_close(stepped[:, p], whole, atol=1e-5, rtol=1e-5)
        for s_pop, s_member in zip(state, final):
            torch.testing.assert_close(s_pop[:, p], s_member, atol=1e-5, rtol=1e-5)


def test_peephole_follows_gers_schmidhuber_equations() -> None:
    torch.manual_seed(1)
    spec = _spec("peephole", "discrete")
    policy = Policy(spec)
    policy.load_flat(torch.randn(policy.num_params) * 0.5)
    w = dict(policy.core.named_parameters())
    x = torch.randn(4, 1, 3)
    h, c = torch.zeros(1, 5), torch.zeros(1, 5)
    for x_t in x:
        i, f, g, o = (x_t @ w["weight_ih_l0"].T + h @ w["weight_hh_l0"].T + w["bias_l0"]).chunk(4, dim=-1)
        p_i, p_f, p_o = w["peephole_l0"]
        c = torch.sigmoid(f + p_f * c) * c + torch.sigmoid(i + p_i * c) * torch.tanh(g)
        h = torch.sigmoid(o + p_o * c) * torch.tanh(c)
    _, (h_net, c_net) = policy(x, policy.initial_state(1))
    torch.testing.assert_close(h_net[0], h)
    torch.testing.assert_close(c_net[0], c)


def test_lstm_forget_gates_start_open() -> None:
    policy = Policy(_spec("lstm", "discrete"))
    forget = policy.core.bias_ih_l0[5:10] + policy.core.bias_hh_l0[5:10]
    assert torch.all(forget == 1.0)


def test_select_action_respects_the_action_space() -> None:
    spec = _spec("lstm", "box")
    actions = select_action(spec, torch.randn(1000, 2) * 10)
    assert ACTIONS["box"].contains(actions.numpy()[0].astype(np.float32))
    assert actions[:, 0].min() >= -2 and actions[:, 0].max() <= 2
    assert actions[:, 1].min() >= 0 and actions[:, 1].max() <= 1
    assert select_action(_spec("lstm", "discrete"), torch.tensor([[0.1, 3.0, -1.0, 0.0]])).item() == 1


def test_unsupported_spaces_are_rejected() -> None:
    with pytest.raises(ValueError, match="actions must be Discrete or a flat Box"):
        PolicySpec.for_spaces("lstm", 4, 1, OBS, gymnasium.spaces.MultiDiscrete([2, 2]))
