"""The counter-based generator: an episode's numbers depend on its key and step only, and stay inside (0, 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolstm import counter_random


def test_numbers_do_not_depend_on_the_batch() -> None:
    keys = torch.arange(1000, 1032)
    whole = counter_random.uniform(keys, "actions", 5, 3)
    assert torch.equal(counter_random.uniform(keys[7:9], "actions", 5, 3), whole[7:9])
    assert torch.equal(counter_random.uniform(keys.flip(0), "actions", 5, 3), whole.flip(0))
    assert not torch.equal(counter_random.uniform(keys, "actions", 6, 3), whole)  # another step, other numbers


def test_uniforms_stay_strictly_inside_the_unit_interval() -> None:
    """With 24 bits, (2^24 - 1 + 0.5) / 2^24 rounded to 1.0 in float32 and a Gumbel draw became infinite."""
    values = counter_random.uniform(torch.arange(200_000), "actions", 0, 8)
    assert 0.0 < float(values.min()) and float(values.max()) < 1.0
    assert torch.isfinite(counter_random.gumbel(torch.tensor([13264016]), "actions", 0, 4)).all()
    assert abs(float(values.mean()) - 0.5) < 1e-3


def test_seeds_become_keys_exactly() -> None:
    cpu = torch.device("cpu")
    big = 2**63 + 1
    assert counter_random.as_keys([1, big], 2, cpu).tolist() == [1, big - 2**64]  # no float64 on the way
    assert counter_random.as_keys(np.array([1, big], dtype=np.uint64), 2, cpu).tolist() == [1, big - 2**64]
    assert counter_random.as_keys(5, 3, cpu).tolist() == [5, 6, 7]
    assert counter_random.as_keys(torch.tensor([4, 2]), 2, cpu).tolist() == [4, 2]
    for bad in ([1.7, 2.0], [True, 1], np.array([0.5, 1.0]), torch.tensor([1.0, 2.0]), [-1, 0], [2**64, 0]):
        with pytest.raises(ValueError, match="seeds must be"):
            counter_random.as_keys(bad, 2, cpu)
    with pytest.raises(ValueError, match="expected 3 seeds"):
        counter_random.as_keys([1, 2], 3, cpu)


def test_both_halves_of_a_key_count() -> None:
    keys = torch.tensor([7, 7 + 2**32, 7 - 2**63])
    drawn = counter_random.bits(keys, "starts", torch.arange(4))
    assert len({tuple(row) for row in drawn.tolist()}) == 3


def test_integers_and_float64_uniforms_stay_in_range() -> None:
    keys = torch.arange(50_000)
    draws = torch.arange(3)
    symbols = counter_random.integers(keys, "starts", draws, 7)
    assert symbols.min() == 0 and symbols.max() == 6
    assert np.allclose(np.bincount(symbols.reshape(-1).numpy()) / symbols.numel(), 1 / 7, atol=0.005)
    values = counter_random.uniform64(keys, "starts", draws)
    assert values.dtype == torch.float64 and 0.0 < float(values.min()) and float(values.max()) < 1.0


def test_key_chains_are_deterministic_and_non_negative() -> None:
    keys = torch.tensor([0, 1, 2**62, -5])
    following = counter_random.successor(keys)
    assert torch.equal(following, counter_random.successor(keys)) and bool((following >= 0).all())
    assert len(set(following.tolist()) | set(keys.tolist())) == 8
