"""REINFORCE through time (Wierstra et al., "Recurrent Policy Gradients"): sample a batch of episodes, then
backpropagate the log-likelihood of the actions taken, weighted by advantages, through the recurrent policy.

Episodes are sampled without building a graph (all in lockstep by the evaluator); log-probabilities are then
recomputed over the whole padded batch in one pass of `nn.LSTM`/`nn.GRU` (or in chunks for truncated BPTT), masked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from evolstm.config import Experiment, ReinforceConfig
from evolstm.evaluation import Evaluator
from evolstm.policies import Policy, PolicySpec, State
from evolstm.rollout import Trajectories
from evolstm.sampling import Sampling, distribution
from evolstm.seeding import episode_seeds
from evolstm.trainers.base import Exported, Trainer, finite_summary

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}


class ActorCritic(nn.Module):
    """The policy network plus what only training needs: a value head on the shared recurrent output, a log-std."""

    def __init__(self, spec: PolicySpec, value_head: bool, learn_std: bool, std: float) -> None:
        super().__init__()
        self.policy = Policy(spec)
        self.value = nn.Linear(spec.hidden, 1) if value_head else None
        self.log_std = nn.Parameter(torch.full((spec.action_dim,), math.log(std))) if learn_std else None

    def forward(self, inputs: Tensor, state: State) -> tuple[Tensor, Tensor | None, State]:
        """inputs [T, N, obs] -> (head outputs [T, N, A], values [T, N] or None, final state)."""
        features, state = self.policy.features(inputs, state)
        values = self.value(features).squeeze(-1) if self.value is not None else None
        return self.policy.head(features), values, state


def sequence_pass(model: ActorCritic, inputs: Tensor, bptt: int | None) -> tuple[Tensor, Tensor | None]:
    """Head outputs and values for padded episodes [T, N, obs] in one pass, or in `bptt`-step chunks whose
    gradients stop at chunk borders (the state still flows forward)."""
    state = model.policy.initial_state(inputs.shape[1])
    if bptt is None:
        out, values, _ = model(inputs, state)
        return out, values
    outs, values = [], []
    for chunk in inputs.split(bptt):
        out, value, state = model(chunk, state)
        state = tuple(s.detach() for s in state)
        outs.append(out)
        values.append(value)
    return torch.cat(outs), (torch.cat(values) if model.value is not None else None)


def returns_to_go(rewards: Tensor, discount: float, reward_to_go: bool) -> Tensor:
    """Discounted return after each step [T, N] (padded steps have reward 0), or the episode's whole return."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + discount * running
        returns[t] = running
    return returns if reward_to_go else returns[:1].expand_as(returns)


class ReinforceTrainer(Trainer):
    """One `step` = sample `episodes` episodes in parallel, one gradient update, greedy evaluation of the policy."""

    STEP = "iteration"
    GREEDY = "greedy"

    def __init__(self, experiment: Experiment, evaluator: Evaluator, spec: PolicySpec, init: Tensor) -> None:
        super().__init__(experiment, evaluator, spec, init)
        self.cfg: ReinforceConfig = experiment.trainer
        self.model = ActorCritic(spec, self.cfg.baseline == "value", self.cfg.learn_std, self.cfg.action_std)
        self.model.policy.load_flat(init)
        self.model.to(evaluator.device)  # train where the episodes are collected
        kwargs = {"momentum": 0.9} if self.cfg.optimizer == "sgd" else {}
        self.optimizer = OPTIMIZERS[self.cfg.optimizer](self.model.parameters(), lr=self.cfg.learning_rate, **kwargs)
        self.return_mean, self.return_std = 0.0, 1.0  # running statistics of returns-to-go
        self._returns_seen = False

    def params(self) -> Tensor:
        return self.model.policy.flat()

    def action_std(self) -> Tensor | None:
        """Current Gaussian std for Box actions: learned, annealed or fixed."""
        if self.spec.discrete:
            return None
        if self.model.log_std is not None:
            return self.model.log_std.exp()
        final = self.cfg.action_std_final or self.cfg.action_std
        std = self.cfg.action_std + (final - self.cfg.action_std) * self.progress
        return torch.full((self.spec.action_dim,), std, device=self.evaluator.device)

    def _learning_rate(self) -> float:
        decay = {
            "constant": 1.0,
            "linear": 1.0 - self.progress,
            "cosine": 0.5 * (1 + math.cos(math.pi * self.progress)),
        }
        return self.cfg.learning_rate * decay[self.cfg.lr_schedule]

    def collect(self) -> tuple[Trajectories, np.ndarray, int]:
        """Sample this iteration's episodes with the current policy (no graph); actions are drawn from each
        episode's own seed."""
        seeds = episode_seeds(self.seed, "training", self.steps, 1, self.cfg.episodes)[0]
        std = self.action_std()
        sampling = Sampling(None if std is None else tuple(std.detach().tolist()))
        results = self.evaluator.collect(self.params(), seeds, self.norm, sampling)
        self.update_norm(results.obs_stats)
        assert results.trajectories is not None
        return results.trajectories, results.returns[0], results.env_steps

    def _track_returns(self, returns: Tensor) -> None:
        """Exponential running mean and std of returns-to-go (the mean baseline; the value head's scale)."""
        mean, std = float(returns.mean()), float(returns.std(correction=0)) + 1e-3
        rate = 0.1 if self._returns_seen else 1.0
        self.return_mean += rate * (mean - self.return_mean)
        self.return_std += rate * (std - self.return_std)
        self._returns_seen = True

    def loss(self, batch: Trajectories) -> tuple[Tensor, dict[str, float]]:
        """Policy-gradient loss (minus advantage-weighted log-likelihood), entropy bonus and value loss, masked."""
        cfg = self.cfg
        valid = batch.valid.float()
        count = valid.sum()
        out, values = sequence_pass(self.model, batch.inputs, cfg.bptt)
        dist = distribution(self.spec, out, self.action_std())
        log_prob = dist.log_prob(batch.actions)
        returns = returns_to_go(batch.rewards, cfg.discount, cfg.reward_to_go)
        self._track_returns(returns[batch.valid])
        if cfg.baseline == "value":  # the head predicts standardized returns, so its loss has the same scale always
            advantages = returns - (self.return_mean + self.return_std * values.detach())
        elif cfg.baseline == "mean":
            advantages = returns - self.return_mean
        else:
            advantages = returns
        if cfg.normalize_advantages:
            mean = (advantages * valid).sum() / count
            std = (((advantages - mean) ** 2 * valid).sum() / count).sqrt()
            advantages = (advantages - mean) / (std + 1e-8)
        policy_loss = -(log_prob * advantages * valid).sum() / count
        entropy = (dist.entropy() * valid).sum() / count
        total = policy_loss - cfg.entropy_coef * entropy
        metrics = {"policy_loss": policy_loss.item(), "entropy": entropy.item()}
        if values is not None:
            target = (returns - self.return_mean) / self.return_std
            value_loss = (0.5 * (values - target) ** 2 * valid).sum() / count
            total = total + cfg.value_coef * value_loss
            metrics["value_loss"] = value_loss.item()
        return total, metrics

    def update(self, batch: Trajectories, lr: float) -> dict[str, Any]:
        """One gradient step on the batch, skipped (with a warning) where the rewards, loss or gradient are not
        finite, so that no NaN reaches the weights, the optimizer's moments or the return statistics."""
        if not (torch.isfinite(batch.rewards).all() and torch.isfinite(batch.inputs).all()):
            self.warn("non-finite rewards or observations; update skipped")
            return {"skipped": True}
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        statistics = (self.return_mean, self.return_std, self._returns_seen)
        loss, metrics = self.loss(batch)
        self.optimizer.zero_grad()
        loss.backward()
        max_norm = self.cfg.max_grad_norm or math.inf
        grad_norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), max_norm))
        finite = math.isfinite(loss.item()) and math.isfinite(grad_norm)
        if finite and math.isfinite(self.return_mean) and math.isfinite(self.return_std):
            self.optimizer.step()
            return {**metrics, "grad_norm": grad_norm, "skipped": False}
        self.return_mean, self.return_std, self._returns_seen = statistics  # e.g. returns that overflowed
        self.warn("non-finite returns, loss or gradient; update skipped")
        shown = {key: value if math.isfinite(value) else None for key, value in metrics.items()}
        return {**shown, "grad_norm": grad_norm if math.isfinite(grad_norm) else None, "skipped": True}

    def _train_step(self) -> dict[str, Any]:
        """Collect, update once, evaluate the greedy policy."""
        batch, returns, steps = self.collect()
        self.env_steps += steps
        lr = self._learning_rate()
        row: dict[str, Any] = {**finite_summary(returns), **self.update(batch, lr), "lr": lr}
        std = self.action_std()
        if std is not None:
            row["action_std"] = float(std.detach().mean())
        params = self.params()
        if (value := self.evaluate_current(params)) is not None:
            row[self.GREEDY] = value
            self.note_best(value, params)
        return row

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "return_mean": self.return_mean,
            "return_std": self.return_std,
            "returns_seen": self._returns_seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        statistics = (state["return_mean"], state["return_std"])
        if not all(isinstance(v, float) and math.isfinite(v) for v in statistics) or statistics[1] <= 0:
            raise ValueError(f"return statistics {statistics!r:.60} are not a finite mean and a positive std")
        if not isinstance(state["returns_seen"], bool):
            raise ValueError("returns_seen is not a bool")
        super().load_state_dict(state)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.return_mean, self.return_std = state["return_mean"], state["return_std"]
        self._returns_seen = state["returns_seen"]

    def exports(self) -> dict[str, Exported]:
        """The policy as trained (final) and the one whose greedy evaluation was highest (best)."""
        out = {"final": Exported(self.params(), self.norm)}
        if self.best is not None:
            out["best"] = self.best[1]
        return out
