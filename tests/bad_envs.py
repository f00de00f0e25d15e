"""Envs that go wrong in one chosen way each, for the tests of how a run reports an env's failure."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

FAILURES = (
    "init", "reset", "step", "reset_shape", "step_shape", "str_reward", "array_reward", "reset_tuple", "array_end",
)  # fmt: skip


class BadEnv(gymnasium.Env):
    """A 3-step episode with Box(obs) observations and Discrete(3, start) actions that fails as `fail` says (or
    never, with fail=None)."""

    def __init__(self, fail: str | None = None, start: int = 0, obs: int = 2) -> None:
        if fail == "init":
            raise RuntimeError("no licence for the simulator")
        self.fail = fail
        self.observation_space = gymnasium.spaces.Box(-1.0, 1.0, (obs,), np.float32)
        self.action_space = gymnasium.spaces.Discrete(3, start=start)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        self.t = 0
        if self.fail == "reset":
            raise OSError("simulator socket closed")
        if self.fail == "reset_tuple":
            return np.zeros(2, np.float32)  # forgot the info dict
        return np.zeros(3 if self.fail == "reset_shape" else self.observation_space.shape[0], np.float32), {}

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict]:
        assert self.action_space.contains(action), f"action {action} outside {self.action_space}"
        self.t += 1
        if self.fail == "step" and self.t == 2:
            raise RuntimeError("sensor unplugged")
        obs = np.zeros(5 if self.fail == "step_shape" else self.observation_space.shape[0], np.float32)
        reward: Any = {"str_reward": "1.0", "array_reward": np.ones(2)}.get(self.fail, 1.0)
        ended = np.array([False, self.t == 3]) if self.fail == "array_end" else self.t == 3
        return obs, reward, ended, False, {}


if "BadEnv-v0" not in gymnasium.registry:
    gymnasium.register("BadEnv-v0", entry_point=BadEnv)
