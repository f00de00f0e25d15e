"""Stochastic actions for policy-gradient training: categorical for Discrete, one categorical per dimension for
MultiDiscrete, Gaussian (then squashed) for Box.

Every random number comes from the counter-based generator keyed by the episode's reset seed and the step, so an
episode samples the same actions however the batch is split (local, batched, any number of Ray workers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, Normal, constraints

from evolstm import counter_random
from evolstm.policies import PolicySpec, select_action

#: (head outputs [P, E, A], step) -> (actions for the envs, what to record as the action taken), both [P, E, ...]
ActionFn = Callable[[Tensor, int], tuple[Tensor, Tensor]]


class MultiCategorical(Distribution):
    """Independent categoricals, one per block of logits (MultiDiscrete actions): actions int64 [..., D], whose
    log-probability and entropy are the sums over the D dimensions."""

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {}

    def __init__(self, logits: Tensor, nvec: tuple[int, ...]) -> None:
        self.parts = [Categorical(logits=block) for block in logits.split(nvec, dim=-1)]
        super().__init__(logits.shape[:-1], torch.Size([len(nvec)]), validate_args=False)

    def log_prob(self, value: Tensor) -> Tensor:
        return torch.stack([part.log_prob(value[..., i]) for i, part in enumerate(self.parts)], dim=-1).sum(-1)

    def entropy(self) -> Tensor:
        return torch.stack([part.entropy() for part in self.parts], dim=-1).sum(-1)


def distribution(spec: PolicySpec, out: Tensor, std: Tensor | None) -> Distribution:
    """The action distribution a head output stands for (over pre-squash values for Box actions)."""
    if spec.action_nvec is not None:
        return MultiCategorical(out, spec.action_nvec)
    if spec.discrete:
        return Categorical(logits=out)
    assert std is not None, "Box actions need a std"
    return Independent(Normal(out, std.expand_as(out)), 1)


def greedy(spec: PolicySpec) -> ActionFn:
    """Deterministic actions (argmax or squashed mean), as ES evaluates and replays policies."""

    def act(out: Tensor, step: int) -> tuple[Tensor, Tensor]:
        action = select_action(spec, out)
        return action, action

    return act


@dataclass(frozen=True)
class Sampling:
    """How to draw actions: for Box actions the Gaussian std (Discrete actions need nothing)."""

    std: tuple[float, ...] | None = None

    def action_fn(self, spec: PolicySpec, keys: Tensor) -> ActionFn:
        """Sample actions for episodes keyed by `keys` [E] (their reset seeds), on the keys' device; Box samples are
        recorded before squashing (their log-probability is what is trained)."""
        std = None if self.std is None else torch.tensor(self.std, device=keys.device)

        def act(out: Tensor, step: int) -> tuple[Tensor, Tensor]:
            flat = out.reshape(-1, out.shape[-1])
            if spec.discrete:
                broken = ~torch.isfinite(flat).all(dim=-1, keepdim=True)  # e.g. from a NaN observation: act at
                logits = torch.where(broken, 0.0, flat)  # random; the update is then skipped
                noise = counter_random.gumbel(keys, "actions", step, flat.shape[-1])  # for all blocks of MultiDiscrete
                action = select_action(spec, logits + noise)  # the argmax (within each block)
                action = action.reshape(*out.shape[:-1], *action.shape[1:])
                return action, action
            raw = out + std * counter_random.normal(keys, "actions", step, flat.shape[-1]).reshape(out.shape)
            return select_action(spec, raw), raw

        return act
