"""Stochastic actions for policy-gradient training: categorical for Discrete, Gaussian (then squashed) for Box."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, Normal

from evolstm.policies import PolicySpec, select_action
from evolstm.rollout import ActionFn


def distribution(spec: PolicySpec, out: Tensor, std: Tensor | None) -> Distribution:
    """The action distribution a head output stands for (over pre-squash values for Box actions)."""
    if spec.discrete:
        return Categorical(logits=out)
    assert std is not None, "Box actions need a std"
    return Independent(Normal(out, std.expand_as(out)), 1)


@dataclass(frozen=True)
class Sampling:
    """How to draw actions: a seed (one generator per batch of episodes) and, for Box actions, the Gaussian std."""

    seed: int
    std: tuple[float, ...] | None = None

    def action_fn(self, spec: PolicySpec, device: torch.device | str = "cpu") -> ActionFn:
        """Sample actions on `device`; Box samples are recorded before squashing (their log-probability is trained)."""
        generator = torch.Generator(device=device).manual_seed(self.seed)
        std = None if self.std is None else torch.tensor(self.std, device=device)

        def act(out: Tensor) -> tuple[Tensor, Tensor]:
            if spec.discrete:
                probs = torch.softmax(out, dim=-1).reshape(-1, out.shape[-1])
                broken = ~torch.isfinite(probs).all(dim=-1, keepdim=True)  # e.g. from a NaN observation: act at
                probs = torch.where(broken, 1.0 / probs.shape[-1], probs)  # random; the update is then skipped
                action = torch.multinomial(probs, 1, generator=generator).reshape(out.shape[:-1])
                return action, action
            raw = out + std * torch.randn(out.shape, generator=generator, device=out.device)
            return select_action(spec, raw), raw

        return act
