"""A small memory task with Box actions, for tests: a cue of -1 or +1 is shown at the first step only; at the last
step (flagged in the observation) the action should equal the cue. Reward 1 - |action - cue| at the last step."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np


class CueBoxEnv(gymnasium.Env):
    """Observation (cue or 0, last-step flag); action Box(-1, 1, (1,)); `length` steps per episode."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, length: int = 3) -> None:
        self.length = length

    def _obs(self) -> np.ndarray:
        return np.array([self.cue if self.t == 0 else 0.0, float(self.t == self.length - 1)], np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t, self.cue = 0, float(self.np_random.choice([-1.0, 1.0]))
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        last = self.t == self.length - 1
        reward = 1.0 - abs(float(np.asarray(action).reshape(-1)[0]) - self.cue) if last else 0.0
        self.t += 1
        return self._obs() if not last else np.zeros(2, np.float32), reward, last, False, {}


if "CueBox-v0" not in gymnasium.registry:
    gymnasium.register("CueBox-v0", entry_point=CueBoxEnv)
