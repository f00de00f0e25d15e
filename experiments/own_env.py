"""Bringing your own env: a Gymnasium env in a module of yours, named in the experiment's task id as `module:Id-v0`
(`experiments/own-env-es.yaml`). Gymnasium imports the module, whose import registers the id; run evolstm from the
folder that holds the module's package (here the repository root, so the module is `experiments.own_env`).

DelayedCoin-v0: a coin (+1 or -1) is shown at the first step, then `delay` blank steps; at the last step (flagged in
the observation) the agent names the side: reward +1 if right, -1 if wrong. Without memory the expected return is 0.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np


class DelayedCoin(gymnasium.Env):
    """Observation [coin at step 0 else 0, 1 at the last step else 0]; action 0 (heads, -1) or 1 (tails, +1)."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self, delay: int = 5) -> None:
        self.delay = delay

    def _obs(self) -> np.ndarray:
        return np.array([self.coin if self.t == 0 else 0.0, float(self.t == self.delay + 1)], np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t, self.coin = 0, float(self.np_random.choice([-1.0, 1.0]))
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.t == self.delay + 1:  # the question: name the coin
            return self._obs(), (1.0 if (2 * int(action) - 1) == self.coin else -1.0), True, False, {}
        self.t += 1
        return self._obs(), 0.0, False, False, {}


if "DelayedCoin-v0" not in gymnasium.registry:
    gymnasium.register("DelayedCoin-v0", entry_point=DelayedCoin)
