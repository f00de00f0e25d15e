"""A small memory task with MultiDiscrete actions, for tests: two cue bits are shown at the first step only; at the
last step (flagged in the observation) action dimension 0 should name the first bit and dimension 1 the second.
Reward 0.5 per dimension named right at the last step (return 1 at best; uniform random actions: 5/12; a policy that
remembers only one bit: 0.75)."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np


class CueMultiEnv(gymnasium.Env):
    """Observation (bit 0 as +-1 or 0, bit 1 as +-1 or 0, last-step flag); action MultiDiscrete([2, 3], start=[0, 1])
    (dimension 1's third choice is never right; its start tests the offset); `length` steps per episode."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gymnasium.spaces.MultiDiscrete([2, 3], start=[0, 1])

    def __init__(self, length: int = 3) -> None:
        self.length = length

    def _obs(self) -> np.ndarray:
        cue = 2.0 * self.bits - 1.0 if self.t == 0 else np.zeros(2)
        return np.array([*cue, float(self.t == self.length - 1)], np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t, self.bits = 0, self.np_random.integers(0, 2, size=2)
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        assert self.action_space.contains(action), f"{action!r} ({type(action)}) invalid"
        last = self.t == self.length - 1
        reward = 0.5 * float(np.sum(action - self.action_space.start == self.bits)) if last else 0.0
        self.t += 1
        return self._obs() if not last else np.zeros(3, np.float32), reward, last, False, {}


if "CueMulti-v0" not in gymnasium.registry:
    gymnasium.register("CueMulti-v0", entry_point=CueMultiEnv)
