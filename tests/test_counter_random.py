"""The counter-based generator: an episode's numbers depend on its key and step only, and stay inside (0, 1)."""

from __future__ import annotations

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
