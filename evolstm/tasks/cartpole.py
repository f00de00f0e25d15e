"""Velocity-free CartPole: the agent sees only the cart position and pole angle."""

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.utils import maybe_parse_reset_bounds
from gymnasium.vector import AutoresetMode

from evolstm import counter_random
from evolstm.tasks.batched import State, TorchVectorEnv, episode_key
from evolstm.tasks.drawing import canvas, draw_line, fill_circle, fill_rect, warn_no_render_mode

OBSERVED_ENTRIES = (0, 2)  # x and theta out of CartPole's (x, x_dot, theta, theta_dot)

_BACKGROUND, _TRACK, _CART = (255, 255, 255), (0, 0, 0), (0, 0, 0)
_POLE, _AXLE = (202, 152, 101), (129, 132, 203)

# CartPoleEnv's constants that the batched env copies from a scalar instance.
_PHYSICS = (
    "gravity",
    "masscart",
    "masspole",
    "total_mass",
    "length",
    "polemass_length",
    "force_mag",
    "tau",
    "kinematics_integrator",
    "theta_threshold_radians",
    "x_threshold",
)


def start_states(keys: counter_random.Ints, options: dict[str, Any] | None = None) -> counter_random.Ints:
    """CartPole's float64 start states (x, x_dot, theta, theta_dot) [N, 4], uniform in (low, high) like
    ``CartPoleEnv.reset`` (default (-0.05, 0.05); ``options`` may set ``low``/``high``), drawn from each episode's
    key (a tensor, or a numpy array for the scalar env) with the counter-based generator."""
    low, high = maybe_parse_reset_bounds(options, -0.05, 0.05)
    draws = counter_random.arange(keys, 0, 4)
    return low + (high - low) * counter_random.uniform64(keys, "starts", draws)


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

    All four state variables are drawn uniformly from ``(-0.05, 0.05)``, from the episode's seed through evolstm's
    counter-based generator (`evolstm.counter_random`, shared with the batched form), not numpy's: the same seed gives
    other start states than ``CartPole-v1``.

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
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        super().__init__(render_mode=render_mode)
        high = np.array([self.x_threshold * 2, self.theta_threshold_radians * 2], dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.key: int | None = None  # the current episode's key (see evolstm.tasks.batched.episode_key)

    @staticmethod
    def _mask(full_observation: np.ndarray) -> np.ndarray:
        """Keep only the cart position and the pole angle of CartPole's observation."""
        return np.asarray(full_observation, dtype=np.float32)[list(OBSERVED_ENTRIES)]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset CartPole's physics and return the masked observation.

        This is ``CartPoleEnv.reset`` with the draw done by :func:`start_states`, which the batched env shares.
        """
        gym.Env.reset(self, seed=seed)
        self.key = episode_key(seed, self.key, self.np_random)
        self.state = start_states(np.array([self.key], dtype=np.int64), options)[0]
        self.steps_beyond_terminated = None
        return self._mask(self.state), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance CartPole's physics one step and return the masked observation."""
        full_observation, reward, terminated, truncated, info = super().step(action)
        return self._mask(full_observation), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """Draw track, cart and pole as a 600x400 RGB image with numpy only."""
        if self.render_mode is None:
            warn_no_render_mode("evolstm/MaskedCartPole-v0")
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


class MaskedCartPoleVectorEnv(TorchVectorEnv):
    """``num_envs`` velocity-free CartPoles stepped together as torch tensors on ``device``.

    The float64 state follows ``CartPoleEnv.step`` operation by operation, with the
    physics constants and thresholds read from :class:`MaskedCartPoleEnv`; the observation
    is state entries ``OBSERVED_ENTRIES`` cast to float32 [num_envs, 2]; the reward is 1.0
    (float64) every step, the terminating one included. ``max_episode_steps`` truncates
    like the registered ``TimeLimit`` (None: never). ``info`` is empty.

    On the CPU the states are bit-identical to the scalar env's: cos/sin come from
    ``torch.polar``, whose CPU kernel calls the C library like ``np.cos``/``np.sin``.
    On CUDA, cos/sin are CUDA's, which differ from the C library's by one ulp for a
    small fraction of angles, so float64 states can drift apart in their last bits.
    """

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "cpu",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: None = None,
        max_episode_steps: int | None = 500,
    ):
        if max_episode_steps is not None and (
            not isinstance(max_episode_steps, (int, np.integer)) or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be None or an int >= 1, got {max_episode_steps!r}")
        twin = MaskedCartPoleEnv()
        super().__init__(num_envs, twin, device, autoreset_mode, render_mode)
        if max_episode_steps is not None:
            max_episode_steps = int(max_episode_steps)
        self.max_episode_steps = max_episode_steps
        for name in _PHYSICS:
            setattr(self, name, getattr(twin, name))
        self._push_right, self._push_left = (
            torch.tensor(f, dtype=torch.float64, device=self.device) for f in (self.force_mag, -self.force_mag)
        )
        self._observed = torch.tensor(OBSERVED_ENTRIES, device=self.device)

    def _start(self, keys: torch.Tensor, options: dict[str, Any]) -> State:
        physics = start_states(keys, options)
        return {"physics": physics, "steps": torch.zeros(len(keys), dtype=torch.int64, device=keys.device)}

    def _observe(self, state: State) -> torch.Tensor:
        return state["physics"].index_select(1, self._observed).to(torch.float32)

    def _advance(self, state: State, actions: torch.Tensor) -> tuple[State, torch.Tensor, torch.Tensor, torch.Tensor]:
        # Operation for operation CartPoleEnv.step (float64, no fused ops), so that the
        # roundings agree with numpy's.
        x, x_dot, theta, theta_dot = state["physics"].unbind(1)
        force = torch.where(actions == 1, self._push_right, self._push_left)
        # torch.polar's CPU kernel calls the C library's cos/sin, as numpy does, whereas
        # torch.cos/torch.sin (MKL/SLEEF) are off by one ulp for ~0.1% of the angles. Compiled
        # code (evaluation.compile) has no complex numbers and is not bit-exact anyway.
        if torch.compiler.is_compiling():
            costheta, sintheta = torch.cos(theta), torch.sin(theta)
        else:
            rotation = torch.polar(torch.ones_like(theta), theta)
            costheta, sintheta = rotation.real, rotation.imag
        temp = (force + self.polemass_length * (theta_dot * theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * (costheta * costheta) / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        if self.kinematics_integrator == "euler":
            x = x + self.tau * x_dot
            x_dot = x_dot + self.tau * xacc
            theta = theta + self.tau * theta_dot
            theta_dot = theta_dot + self.tau * thetaacc
        else:  # semi-implicit euler
            x_dot = x_dot + self.tau * xacc
            x = x + self.tau * x_dot
            theta_dot = theta_dot + self.tau * thetaacc
            theta = theta + self.tau * theta_dot
        physics = torch.stack((x, x_dot, theta, theta_dot), dim=1)
        terminated = (
            (x < -self.x_threshold)
            | (x > self.x_threshold)
            | (theta < -self.theta_threshold_radians)
            | (theta > self.theta_threshold_radians)
        )
        steps = state["steps"] + 1
        if self.max_episode_steps is None:
            truncated = torch.zeros_like(terminated)
        else:
            truncated = steps >= self.max_episode_steps
        rewards = torch.ones_like(x)
        return {**state, "physics": physics, "steps": steps}, rewards, terminated, truncated
