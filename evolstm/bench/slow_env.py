"""A CPU-bound Gymnasium env for the ray-workers benchmark: masked CartPole whose every step also burns `step_us` us."""

from __future__ import annotations

import time
from typing import Any

import gymnasium

import evolstm.tasks  # noqa: F401  (registers evolstm/MaskedCartPole-v0)


class Spinning(gymnasium.Wrapper):
    """Busy-waits `step_us` microseconds in every step, like an expensive simulator would."""

    def __init__(self, env: gymnasium.Env, step_us: float) -> None:
        """Wrap `env`, burning `step_us` microseconds per step."""
        super().__init__(env)
        self.step_us = step_us

    def step(self, action: Any) -> tuple:
        """Busy-wait, then step the wrapped env."""
        until = time.perf_counter() + self.step_us * 1e-6
        while time.perf_counter() < until:
            pass
        return self.env.step(action)


def make_spinning(step_us: float = 50.0, render_mode: str | None = None) -> gymnasium.Env:
    """Masked CartPole (without its time limit: the registration below adds one) burning `step_us` per step."""
    return Spinning(gymnasium.make("evolstm/MaskedCartPole-v0", render_mode=render_mode).unwrapped, step_us)


if "SpinningMaskedCartPole-v0" not in gymnasium.registry:
    gymnasium.register("SpinningMaskedCartPole-v0", entry_point=make_spinning, max_episode_steps=500)
