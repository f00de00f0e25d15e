"""Wrappers named by import path in the tests of `task.wrappers`."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np


class AppendConstant(gymnasium.ObservationWrapper):
    """Appends `value` to every (flat Box) observation: the order of several shows in the observation."""

    def __init__(self, env: gymnasium.Env, value: float) -> None:
        super().__init__(env)
        low, high = env.observation_space.low, env.observation_space.high
        self.value = value
        self.observation_space = gymnasium.spaces.Box(
            np.append(low, value).astype(np.float32), np.append(high, value).astype(np.float32)
        )

    def observation(self, observation: Any) -> np.ndarray:
        return np.append(observation, self.value).astype(np.float32)


class Broken(gymnasium.Wrapper):
    """A wrapper whose own code fails."""

    def __init__(self, env: gymnasium.Env) -> None:
        raise RuntimeError("wrapper lost its licence")
