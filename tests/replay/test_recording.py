"""Recorded replays: shapes, padding, frames, events, equality with an evaluation, and gates that obey the LSTM/GRU
equations, for every policy kind and every registered task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolstm.config import POLICY_KINDS, TaskConfig
from evolstm.environment import make_env
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PolicySpec
from evolstm.policy_files import PolicyFile, PolicyFileError
from evolstm.replay.recording import ARRAYS, replay
from evolstm.tasks import TASK_IDS
from evolstm.tasks.tmaze import JUNCTION_OBS

GATES = {
    "lstm": {"input_gate", "forget_gate", "output_gate", "cell_input", "hidden", "cell"},
    "peephole": {"input_gate", "forget_gate", "output_gate", "cell_input", "hidden", "cell"},
    "gru": {"reset_gate", "update_gate", "candidate", "hidden"},
    "feedforward": {"hidden"},
    "rnn": {"pre_activation", "hidden"},
}
SEEDS = np.array([3, 11, 12])


def _policy(task: TaskConfig, kind: str, layers: int = 1, seed: int = 0) -> PolicyFile:
    env = make_env(task)
    spec = PolicySpec.for_spaces(kind, 5, layers, env.observation_space, env.action_space)
    torch.manual_seed(seed)
    policy = Policy(spec)
    with torch.no_grad():
        policy.head.weight.mul_(4.0)  # decisive actions, so episodes differ in length
    dim = spec.obs_dim
    return PolicyFile(spec, policy.flat(), ObsNorm(np.full(dim, 0.1, np.float32), np.full(dim, 2.0, np.float32)), {})


@pytest.mark.parametrize("kind", POLICY_KINDS)
@pytest.mark.parametrize("task_id", TASK_IDS)
def test_arrays_frames_and_returns(task_id: str, kind: str) -> None:
    task = TaskConfig(id=task_id, max_episode_steps=40)
    policy = _policy(task, kind, layers=2)
    played = replay(policy, task, SEEDS, frames=True)
    arrays, spec = played.arrays, policy.spec
    lengths = arrays["lengths"]
    steps = int(lengths.max())
    assert (
        set(arrays)
        == {
            "seeds",
            "returns",
            "lengths",
            "observations",
            "inputs",
            "outputs",
            "actions",
            "rewards",
            "terminated",
            "truncated",
        }
        | GATES[kind]
    )
    assert set(arrays) <= set(ARRAYS)
    assert arrays["observations"].shape == (3, steps + 1, spec.obs_dim)
    assert arrays["inputs"].shape == (3, steps, spec.obs_dim) and arrays["outputs"].shape == (3, steps, spec.action_dim)
    for name in GATES[kind]:
        assert arrays[name].shape == (3, steps, 2, 5), name
    for e, length in enumerate(lengths):
        assert len(played.frames[e]) == length + 1  # the reset frame and one per step
        assert played.frames[e][0].ndim == 3 and played.frames[e][0].dtype == np.uint8
        assert arrays["terminated"][e, length - 1] or arrays["truncated"][e, length - 1]
        assert not (arrays["terminated"][e, : length - 1] | arrays["truncated"][e, : length - 1]).any()
        assert not arrays["hidden"][e, length:].any() and not arrays["rewards"][e, length:].any()  # zero padding
        assert arrays["rewards"][e].sum() == pytest.approx(arrays["returns"][e])
    np.testing.assert_array_equal(
        arrays["inputs"][0, : lengths[0]], ((arrays["observations"][0, : lengths[0]] - 0.1) / 2.0).clip(-5, 5)
    )
    # The same episodes played as an evaluation plays them give the same returns and lengths, bit for bit.
    evaluated = VectorEvaluator(task, spec, "local").score(policy.params.unsqueeze(0), SEEDS[None], policy.norm)
    np.testing.assert_array_equal(evaluated.returns[0], arrays["returns"])
    np.testing.assert_array_equal(evaluated.lengths[0], lengths)


@pytest.mark.parametrize("kind", POLICY_KINDS)
def test_states_and_gates_are_the_networks_own(kind: str) -> None:
    """The recorded states equal nn.LSTM/GRU's own sequence pass, and the gates reproduce the recorded states."""
    task = TaskConfig(id="evolstm/TMaze-v0", kwargs={"length": 4})
    policy = _policy(task, kind)
    arrays = replay(policy, task, SEEDS[:1], frames=False).arrays
    steps = int(arrays["lengths"][0])
    network = policy.policy()
    with torch.no_grad():
        features, _ = network.features(torch.from_numpy(arrays["inputs"][0, :steps, None]), network.initial_state(1))
        outputs = network.head(features)
    np.testing.assert_allclose(arrays["hidden"][0, :steps, -1], features[:, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(arrays["outputs"][0, :steps], outputs[:, 0].numpy(), atol=1e-5)
    h = arrays["hidden"][0, :steps, 0]
    previous_h = np.vstack([np.zeros((1, 5)), h[:-1]])
    if kind in ("lstm", "peephole"):
        c = arrays["cell"][0, :steps, 0]
        previous_c = np.vstack([np.zeros((1, 5)), c[:-1]])
        gate = {name: arrays[name][0, :steps, 0] for name in GATES[kind]}
        np.testing.assert_allclose(
            c, gate["forget_gate"] * previous_c + gate["input_gate"] * gate["cell_input"], atol=1e-6
        )
        np.testing.assert_allclose(h, gate["output_gate"] * np.tanh(c), atol=1e-6)
    elif kind == "gru":
        z, n = arrays["update_gate"][0, :steps, 0], arrays["candidate"][0, :steps, 0]
        np.testing.assert_allclose(h, (1 - z) * n + z * previous_h, atol=1e-6)


def test_same_seeds_same_replay_bit_for_bit() -> None:
    task = TaskConfig(id="evolstm/MaskedCartPole-v0", max_episode_steps=60)
    policy = _policy(task, "lstm")
    first, second = (replay(policy, task, SEEDS, frames=True) for _ in range(2))
    assert first.arrays.keys() == second.arrays.keys()
    for name in first.arrays:
        np.testing.assert_array_equal(first.arrays[name], second.arrays[name], err_msg=name)
    assert all(np.array_equal(a, b) for x, y in zip(first.frames, second.frames) for a, b in zip(x, y))
    other = replay(policy, task, SEEDS + 1, frames=False)
    assert not np.array_equal(other.arrays["observations"], first.arrays["observations"])


def test_tmaze_marks_the_cue_and_the_decision() -> None:
    """A policy that always goes east sees the cue at o_0, reaches the junction at o_3 and bumps there until
    truncation: every junction observation is marked as a decision."""
    task = TaskConfig(id="evolstm/TMaze-v0", kwargs={"length": 3})
    spec = PolicySpec("lstm", 3, 4, True, 5, 1)
    policy = Policy(spec)
    with torch.no_grad():
        policy.head.weight.zero_()
        policy.head.bias.copy_(torch.tensor([0.0, 1.0, 0.0, 0.0]))  # east
    played = replay(PolicyFile(spec, policy.flat(), ObsNorm.identity(3), {}), task, SEEDS[:1], frames=False)
    assert played.arrays["lengths"][0] == 16 and played.arrays["truncated"][0, 15]
    assert played.events == [{0: "cue", **{t: "decision" for t in range(3, 17)}}]
    np.testing.assert_array_equal(played.arrays["observations"][0, 3], JUNCTION_OBS)


def test_box_actions_and_an_env_without_rendering() -> None:
    task = TaskConfig(id="Pendulum-v1", max_episode_steps=20)
    played = replay(_policy(task, "gru"), task, SEEDS[:2], frames=False)
    assert played.arrays["actions"].shape == (2, 20, 1) and played.arrays["actions"].dtype == np.float32
    assert played.frames == [[], []] and played.events == [{}, {}]


def test_a_policy_that_does_not_fit_the_task_is_refused() -> None:
    tmaze = TaskConfig(id="evolstm/TMaze-v0")
    policy = _policy(TaskConfig(id="evolstm/MaskedCartPole-v0"), "lstm")
    with pytest.raises(PolicyFileError, match="does not fit task evolstm/TMaze-v0"):
        replay(policy, tmaze, SEEDS, frames=False)
