"""Sampled actions for REINFORCE: MultiDiscrete actions are one categorical per block of logits, drawn from the
episodes' keys (reproducible however the batch is split), with log-probability and entropy summed over the blocks."""

from __future__ import annotations

import gymnasium
import numpy as np
import torch
from torch.distributions import Categorical

from evolstm.policies import PolicySpec
from evolstm.sampling import Sampling, distribution

NVEC = (3, 2, 4)
SPEC = PolicySpec.for_spaces(
    "lstm", 4, 1, gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32), gymnasium.spaces.MultiDiscrete(list(NVEC))
)


def _sample(logits: torch.Tensor, keys: torch.Tensor, step: int = 0) -> torch.Tensor:
    """Actions for head outputs [1, E, 9] of episodes keyed by `keys` [E]."""
    actions, taken = Sampling().action_fn(SPEC, keys)(logits, step)
    assert actions.equal(taken)
    return actions


def test_log_prob_and_entropy_are_sums_over_the_blocks() -> None:
    torch.manual_seed(0)
    logits = 2.0 * torch.randn(1, 64, sum(NVEC))
    actions = _sample(logits, torch.arange(64))
    assert actions.shape == (1, 64, len(NVEC)) and actions.dtype == torch.int64
    dist = distribution(SPEC, logits, None)
    blocks = [Categorical(logits=block) for block in logits.split(NVEC, dim=-1)]
    expected = sum(block.log_prob(actions[..., i]) for i, block in enumerate(blocks))
    torch.testing.assert_close(dist.log_prob(actions), expected)
    torch.testing.assert_close(dist.entropy(), sum(block.entropy() for block in blocks))
    assert dist.log_prob(actions).shape == dist.entropy().shape == (1, 64)


def test_samples_are_reproducible_from_the_keys_however_the_batch_is_split() -> None:
    torch.manual_seed(1)
    keys = torch.arange(100, 140)
    logits = torch.randn(1, 40, sum(NVEC))
    whole = _sample(logits, keys, step=3)
    parts = torch.cat([_sample(logits[:, :15], keys[:15], 3), _sample(logits[:, 15:], keys[15:], 3)], dim=1)
    assert whole.equal(parts) and whole.equal(_sample(logits, keys, 3))
    assert not whole.equal(_sample(logits, keys, 4))  # a new step draws new noise


def test_each_block_samples_its_own_softmax() -> None:
    logits = torch.tensor([1.0, 0.0, -1.0, 0.5, -0.5, 2.0, 0.0, 0.0, -2.0])
    count = 20_000
    actions = _sample(logits.expand(1, count, -1), torch.arange(count))[0]
    assert all(int(actions[:, i].max()) < n for i, n in enumerate(NVEC)) and int(actions.min()) >= 0
    for i, block in enumerate(logits.split(NVEC)):
        frequencies = torch.bincount(actions[:, i], minlength=len(block)).double() / count
        torch.testing.assert_close(frequencies, block.double().softmax(0), atol=0.015, rtol=0)


def test_non_finite_logits_act_at_random_within_each_block() -> None:
    logits = torch.full((1, 200, sum(NVEC)), float("nan"))
    actions = _sample(logits, torch.arange(200))[0]
    for i, n in enumerate(NVEC):
        assert set(actions[:, i].tolist()) == set(range(n))
