"""Velocity-free CartPole: the agent sees only the cart position and pole angle."""

import math
from typing import Any

import numpy as np

import gymnasium as gym
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from evolstm.tasks.drawing import canvas, draw_line, fill_circle, fill_rect

OBSERVED_ENTRIES = (0, 2)  # x and theta out of CartPole's (x, x_dot, theta, theta_dot)

_BACKGROUND, _TRACK, _CART = (255, 255, 255), (0, 0, 0), (0, 0, 0)
_POLE, _AXLE = (202, 152, 101), (129, 132, 203)


class MaskedCartPoleEnv(CartPoleEnv):
    """
    ## Description

    Classic CartPole (Barto, Sutton & Anderson, 1983; Gymnasium's ``CartPole-v1`` physics)
    with the velocities removed from the observation. This is the velocity-free pole
    balancing task used as a memory benchmark by Gomez & Schmidhuber (2005, "Co-evolving
    recurrent neurons learn deep memory POMDPs") and Wierstra et al. (2007, "Solving deep
    memory POMDPs with recurrent policy gradients"): a policy has to infer the cart and pole
    velocities from successive positions, so a memoryless policy balances poorly.

    ## Action Space

    ``Discrete(2)``: 0 pushes the cart to the left, 1 to the right.

    ## Observation Space

    ``Box(float32)`` of shape ``(2,)``:

    | Num | Observation   | Min                 | Max               |
    |-----|---------------|---------------------|-------------------|
    | 0   | Cart Position | -4.8                | 4.8               |
    | 1   | Pole Angle    | ~ -0.418 rad (-24°) | ~ 0.418 rad (24°) |

    ## Rewards

    ``+1`` for every step taken, including the terminating one, as in ``CartPole-v1``.

    ## Starting State

    All four state variables are drawn uniformly from ``(-0.05, 0.05)``.

    ## Episode End

    1. Termination: the pole angle exceeds ±12° or the cart position exceeds ±2.4.
    2. Truncation: 500 steps (``max_episode_steps`` of the registered ``MaskedCartPole-v0``).

    ## Arguments

    - ``render_mode`` (str or None): ``"rgb_array"`` (pure numpy, no pygame needed).

    ``reset`` accepts CartPole's ``options`` (``low``/``high`` of the starting state).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        super().__init__(render_mode=render_mode)
        high = np.array(
            [self.x_threshold * 2, self.theta_threshold_radians * 2], dtype=np.float32
        )
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)

    @staticmethod
    def _mask(full_observation: np.ndarray) -> np.ndarray:
        """Keep only the cart position and the pole angle of CartPole's observation."""
        return np.asarray(full_observation, dtype=np.float32)[list(OBSERVED_ENTRIES)]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset CartPole's physics and return the masked observation."""
        full_observation, info = super().reset(seed=seed, options=options)
        return self._mask(full_observation), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance CartPole's physics one step and return the masked observation."""
        full_observation, reward, terminated, truncated, info = super().step(action)
        return self._mask(full_observation), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """Draw track, cart and pole as a 600x400 RGB image with numpy only."""
        if self.render_mode is None:
            gym.logger.warn(
                "You are calling render method without specifying any render mode, "
                'e.g. gym.make("evolstm/MaskedCartPole-v0", render_mode="rgb_array")'
            )
            return None
        image = canvas(self.screen_height, self.screen_width, _BACKGROUND)
        if self.state is None:
            return image
        scale = self.screen_width / (self.x_threshold * 2)
        pole_length = scale * (2 * self.length)
        cart_width, cart_height, pole_width = 50.0, 30.0, 10.0
        # CartPole draws with y pointing up and then flips; here rows grow downwards.
        track_y = self.screen_height - 100
        cart_x = self.state[0] * scale + self.screen_width / 2.0
        axle_y = track_y - cart_height / 4.0
        theta = self.state[2]

        fill_rect(image, 0, track_y, self.screen_width, track_y + 1, _TRACK)
        fill_rect(
            image,
            cart_x - cart_width / 2,
            track_y - cart_height / 2,
            cart_x + cart_width / 2,
            track_y + cart_height / 2,
            _CART,
        )
        tip_x = cart_x + pole_length * math.sin(theta)
        tip_y = axle_y - pole_length * math.cos(theta)
        draw_line(image, cart_x, axle_y, tip_x, tip_y, pole_width, _POLE)
        fill_circle(image, cart_x, axle_y, pole_width / 2, _AXLE)
        return image
