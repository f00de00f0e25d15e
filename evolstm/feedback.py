"""The previous action and reward as extra observation entries, for the scalar envs and the torch-batched ones.

A policy that sees what it did and what it got can tell its own mistakes from the task's surprises (POPGym's
`PreviousAction`, RL^2's inputs). Entries after the env's own: the action just taken, one-hot for Discrete and
MultiDiscrete (Gymnasium's `flatten`), as is for Box; then the reward just received. Both are zeros after a reset.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.spaces.utils import flatdim, flatten, flatten_space
from torch import Tensor


def feedback_space(
    observation: gymnasium.spaces.Box, action: gymnasium.Space, act: bool, reward: bool
) -> gymnasium.spaces.Box:
    """The flat Box of the observation with the action's (if `act`) and the reward's (if `reward`) entries."""
    lows, highs = [observation.low.astype(np.float32)], [observation.high.astype(np.float32)]
    if act:
        flat = flatten_space(action)
        lows.append(flat.low.astype(np.float32))
        highs.append(flat.high.astype(np.float32))
    if reward:
        lows.append(np.array([-np.inf], dtype=np.float32))
        highs.append(np.array([np.inf], dtype=np.float32))
    return gymnasium.spaces.Box(np.concatenate(lows), np.concatenate(highs), dtype=np.float32)


class PreviousActionReward(gymnasium.Wrapper):
    """A scalar env (flat Box observations) whose observations end with the previous action and/or reward."""

    def __init__(self, env: gymnasium.Env, action: bool = True, reward: bool = True) -> None:
        super().__init__(env)
        self._action, self._reward = action, reward
        self._action_size = flatdim(env.action_space) if action else 0
        self.observation_space = feedback_space(env.observation_space, env.action_space, action, reward)

    def _with(self, obs: np.ndarray, action: Any, reward: float) -> np.ndarray:
        parts = [np.asarray(obs, dtype=np.float32)]
        if self._action:
            taken = np.zeros(self._action_size, np.float32) if action is None else flatten(self.action_space, action)
            parts.append(np.asarray(taken, dtype=np.float32))
        if self._reward:
            parts.append(np.array([reward], dtype=np.float32))
        return np.concatenate(parts)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._with(obs, None, 0.0), info

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._with(obs, action, float(reward)), reward, terminated, truncated, info


class PreviousActionRewardVector(gymnasium.vector.VectorWrapper):
    """The same entries for a torch-batched env (Discrete or flat Box actions), as tensor operations on its device: no state is
    kept (the step's own actions and rewards are appended), so a selected view of the env needs nothing more."""

    def __init__(self, env: gymnasium.vector.VectorEnv, action: bool = True, reward: bool = True) -> None:
        super().__init__(env)
        space = env.single_action_space
        self._discrete = isinstance(space, gymnasium.spaces.Discrete)
        if action and not (self._discrete or (isinstance(space, gymnasium.spaces.Box) and len(space.shape) == 1)):
            raise ValueError(f"previous actions of batched envs must be Discrete or a flat Box, got {space}")
        self._action, self._reward = action, reward
        self._start = int(space.start) if self._discrete else 0
        self._count = flatdim(space)
        self.single_observation_space = feedback_space(env.single_observation_space, space, action, reward)
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, env.num_envs)

    def _with(self, obs: Tensor, actions: Tensor | None, rewards: Tensor | None) -> Tensor:
        parts = [obs]
        if self._action:
            if actions is None:
                taken = torch.zeros(obs.shape[0], self._count, dtype=obs.dtype, device=obs.device)
            elif self._discrete:
                taken = torch.nn.functional.one_hot(actions.long() - self._start, self._count).to(obs.dtype)
            else:
                taken = actions.to(obs.dtype).reshape(obs.shape[0], self._count)
            parts.append(taken)
        if self._reward:
            got = torch.zeros(obs.shape[0], 1, dtype=obs.dtype, device=obs.device)
            parts.append(got if rewards is None else rewards.to(obs.dtype).unsqueeze(1))
        return torch.cat(parts, dim=1)

    def reset(self, **kwargs: Any) -> tuple[Tensor, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._with(obs, None, None), info

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]:
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        return self._with(obs, actions, rewards), rewards, terminated, truncated, info
