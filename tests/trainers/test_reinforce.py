"""REINFORCE through time: the one-pass sequence computation equals step-by-step; every policy kind and action type
trains; runs are reproducible; the learned value baseline measurably reduces gradient variance."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from evolstm.config import POLICY_KINDS
from evolstm.evaluation import make_evaluator
from evolstm.policies import Policy, PopulationPolicy
from evolstm.environment import policy_spec
from evolstm.sampling import distribution
from evolstm.trainers import make_trainer
from evolstm.trainers.reinforce import ReinforceTrainer, returns_to_go, sequence_pass
from tests.conftest import make_experiment

PENDULUM = {"id": "Pendulum-v1", "kwargs": {}, "max_episode_steps": 12}


def _trainer(task: dict | None = None, policy: dict | None = None, **trainer: Any) -> ReinforceTrainer:
    experiment = make_experiment(
        task=task or {},
        policy=policy or {},
        trainer={"kind": "reinforce", "episodes": 6, "iterations": 2, **trainer},
    )
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(experiment.seed)
    trainer_ = make_trainer(experiment, make_evaluator(experiment, spec), spec, Policy(spec).flat())
    assert isinstance(trainer_, ReinforceTrainer)
    return trainer_


def _policy_grad(trainer: ReinforceTrainer, log_prob: torch.Tensor) -> torch.Tensor:
    trainer.model.zero_grad()
    log_prob.sum().backward()
    return torch.cat([p.grad.reshape(-1) for p in trainer.model.policy.parameters()])


@pytest.mark.parametrize("task", [None, PENDULUM], ids=["discrete", "box"])
@pytest.mark.parametrize("kind", POLICY_KINDS)
def test_sequence_pass_equals_step_by_step(kind: str, task: dict | None) -> None:
    trainer = _trainer(task=task, policy={"kind": kind, "layers": 2})
    batch, _, _ = trainer.collect()
    std = trainer.action_std()
    valid = batch.valid.float()
    out, values = sequence_pass(trainer.model, batch.inputs, None)
    whole = distribution(trainer.spec, out, std).log_prob(batch.actions) * valid
    whole_grad = _policy_grad(trainer, whole)
    state, steps = trainer.model.policy.initial_state(batch.inputs.shape[1]), []
    for t in range(batch.inputs.shape[0]):
        out_t, _, state = trainer.model(batch.inputs[t : t + 1], state)
        steps.append(distribution(trainer.spec, out_t[0], std).log_prob(batch.actions[t]))
    stepped = torch.stack(steps) * valid
    torch.testing.assert_close(whole, stepped, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(whole_grad, _policy_grad(trainer, stepped), atol=1e-4, rtol=1e-4)
    chunked, _ = sequence_pass(trainer.model, batch.inputs, 3)  # truncated BPTT: same forward values
    torch.testing.assert_close(chunked, out)


@pytest.mark.parametrize("kind", POLICY_KINDS)
def test_truncated_bptt_stops_gradients_at_chunk_borders(kind: str) -> None:
    """With bptt = 3, outputs from step 3 on carry no gradient to the inputs of steps 0-2 (the state passed between
    chunks is detached), while without truncation they do (for the recurrent kinds)."""
    trainer = _trainer(policy={"kind": kind})
    inputs = trainer.collect()[0].inputs[:6].clone().requires_grad_(True)
    for bptt in (3, None):
        inputs.grad = None
        out, _ = sequence_pass(trainer.model, inputs, bptt)
        out[3:].sum().backward()
        reaches_back = bool(inputs.grad[:3].abs().sum() > 0)
        assert reaches_back == (bptt is None and kind != "feedforward"), (bptt, inputs.grad[:3])


def test_box_actions_record_the_presquash_sample() -> None:
    """The recorded action is the Gaussian sample whose log-probability is trained; the env gets it squashed."""
    trainer = _trainer(task={"id": "tests.cue_box:CueBox-v0", "kwargs": {}}, episodes=32, action_std=1.0)
    batch, _, _ = trainer.collect()
    taken = batch.actions[batch.valid]
    assert taken.abs().max() > 1.0  # outside the action bounds: not squashed
    policy = PopulationPolicy(trainer.spec, trainer.params().unsqueeze(0))
    state = policy.initial_state(batch.inputs.shape[1])
    means = []
    for x in batch.inputs:
        out, state = policy.step(x.unsqueeze(0), state)
        means.append(out[0])
    noise = (batch.actions - torch.stack(means))[batch.valid] / 1.0
    assert 0.7 < float(noise.std()) < 1.3 and abs(float(noise.mean())) < 0.3  # the N(0, 1) noise of the sample


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_lr_schedule_sets_the_optimizer_learning_rate(schedule: str) -> None:
    trainer = _trainer(lr_schedule=schedule, iterations=4, learning_rate=0.01)
    decay = {
        "constant": [1.0, 1.0, 1.0],
        "linear": [1.0, 0.75, 0.5],
        "cosine": [1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5],
    }
    for expected in decay[schedule]:
        row = trainer.step()
        assert row["lr"] == pytest.approx(0.01 * expected)
        assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * expected)


def test_collected_episodes_are_padded_and_masked() -> None:
    trainer = _trainer()
    batch, returns, steps = trainer.collect()
    assert batch.inputs.shape[1] == 6 and batch.valid.sum() == steps
    np.testing.assert_allclose((batch.rewards * batch.valid).sum(0).numpy(), returns, rtol=1e-5)
    assert not batch.valid[1:][~batch.valid[:-1]].any()  # once an episode ends it stays ended


def test_returns_to_go() -> None:
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    torch.testing.assert_close(returns_to_go(rewards, 0.5, True), torch.tensor([[1.5], [1.0], [2.0]]))
    torch.testing.assert_close(returns_to_go(rewards, 0.5, False), torch.tensor([[1.5], [1.5], [1.5]]))


@pytest.mark.parametrize(
    "options",
    [
        {"baseline": "none", "optimizer": "sgd", "lr_schedule": "linear", "bptt": 2},
        {"baseline": "mean", "optimizer": "rmsprop", "lr_schedule": "cosine", "normalize_advantages": False},
        {"baseline": "value", "learn_std": True, "max_grad_norm": None},
        {"baseline": "value", "action_std_final": 0.1, "reward_to_go": False},
    ],
)
@pytest.mark.parametrize("task", [None, PENDULUM], ids=["discrete", "box"])
def test_options_train_and_export(task: dict | None, options: dict) -> None:
    trainer = _trainer(task=task, **options)
    first = trainer.params()
    rows = [trainer.step() for _ in range(2)]
    assert trainer.finished() and not trainer.params().equal(first)
    assert rows[0]["lr"] == pytest.approx(3e-3) and rows[1]["env_steps"] > rows[0]["env_steps"]
    assert {"final", "best"} == set(trainer.exports())
    if task and options.get("action_std_final"):
        assert rows[1]["action_std"] < rows[0]["action_std"]


def test_same_seed_same_metrics() -> None:
    def metrics() -> list[dict]:
        trainer = _trainer(task={"id": "evolstm/MaskedCartPole-v0", "kwargs": {}})
        return [{k: v for k, v in trainer.step().items() if k != "step_time"} for _ in range(2)]

    assert metrics() == metrics()


def test_value_baseline_reduces_gradient_variance() -> None:
    """Fit the value head for a fixed policy, then compare policy-gradient variance across batches."""
    trainer = _trainer(
        task={"id": "evolstm/MaskedCartPole-v0", "kwargs": {}},
        policy={"hidden": 8},
        episodes=8,
        baseline="value",
        normalize_advantages=False,
        entropy_coef=0.0,
        iterations=1000,
    )
    value_params = list(trainer.model.value.parameters())
    fit = torch.optim.Adam(value_params, lr=0.05)
    for _ in range(60):
        loss, _ = trainer.loss(trainer.collect()[0])
        fit.zero_grad()
        loss.backward()
        fit.step()
        trainer.steps += 1
    measure = {"none": [], "value": []}
    for _ in range(25):
        batch = trainer.collect()[0]
        trainer.steps += 1
        for baseline, grads in measure.items():
            trainer.cfg = trainer.cfg.model_copy(update={"baseline": baseline, "value_coef": 0.0})
            trainer.model.zero_grad()
            trainer.loss(batch)[0].backward()
            grads.append(torch.cat([p.grad.reshape(-1) for p in trainer.model.policy.parameters()]))
    variance = {name: float(torch.stack(g).var(dim=0).sum()) for name, g in measure.items()}
    assert variance["value"] < 0.5 * variance["none"], variance


def test_batched_backend_collects_the_same_episodes() -> None:
    def metrics(backend: str) -> list[dict]:
        trainer = _trainer(task={"id": "evolstm/MaskedCartPole-v0", "kwargs": {}})
        if backend == "batched":
            from evolstm.evaluation.vector import VectorEvaluator

            trainer.evaluator = VectorEvaluator(trainer.evaluator.task, trainer.spec, "batched", "cpu")
        return [{k: v for k, v in trainer.step().items() if k != "step_time"} for _ in range(2)]

    assert metrics("batched") == metrics("local")
