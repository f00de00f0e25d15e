"""Pole balancing on a cart with one or two poles (Wieland's double pole), the classic neuroevolution benchmark:
without velocities (DPNV) a controller must infer them from successive positions, so it needs memory.

The physics follows the double-pole code of Stanley's NEAT (C++ 1.2.1, `experiments.cpp`, `CartPole::step` and
`rk4`) and Shark's `DoublePole.h`, which agree: cart 1 kg; poles of 0.1 and 0.01 kg with half-lengths 0.5 and
0.05 m; g = 9.8 m/s^2; hinge friction 2e-6; fourth-order Runge-Kutta with 0.01 s steps, two per action; failure when
|x| > 2.4 m or a pole leans beyond 36 degrees (0.628329 rad); start with the long pole at 0.07 rad, all else 0. Cart
friction (5e-4 in Shark and the CoSyNE paper's appendix; defined but never used in NEAT's code) is the keyword
`cart_friction`, default 0 as in NEAT. The action is a Box in [-1, 1] scaled to +-10 N (NEAT's (a - 0.5) * 20 N for
an output a in [0, 1]). Observations are x / 4.8 and each angle / 0.52 (with `velocities`, also x_dot / 2 and each
angular velocity / 2), as in NEAT's evaluation.

Fitness (`fitness`): "standard", 1 per step balanced (the failing step earns 0), so the return counts the steps
balanced, up to `max_steps` (default 100,000: a return of 100,000 solves the task); or Gruau's "damping" fitness
over at most 1,000 steps, paid at the episode's end: 0.1 b / 1000 + 0.9 * 0.75 / J for b > 100 balanced steps (else
0.1 b / 1000), where J sums |x| + |x_dot| + |theta1| + |theta1_dot| over the last 100 balanced steps, as NEAT codes it.

Both the scalar env and the batched one step through the same functions (`advance`), on numpy arrays of one row or
on torch tensors; cos/sin come from the C library on the CPU in both, so their states are bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from evolstm.tasks.batched import State, TorchVectorEnv, episode_key
from evolstm.tasks.drawing import canvas, draw_line, fill_circle, fill_rect

GRAVITY = -9.8
MASS_CART = 1.0
MASS_POLES = (0.1, 0.01)
HALF_LENGTHS = (0.5, 0.05)
POLE_FRICTION = 2e-6
FORCE = 10.0
TAU = 0.01
SUBSTEPS = 2
TRACK_LIMIT = 2.4
ANGLE_LIMIT = 0.628329  # 36 degrees
START_ANGLE = 0.07  # the long pole's, about 4 degrees
POSITION_SCALE, ANGLE_SCALE, VELOCITY_SCALE = 4.8, 0.52, 2.0
#: Gruau's damping fitness: episode length, and the window of balanced steps whose jiggle it sums
DAMPING_STEPS, DAMPING_WINDOW = 1000, 100
SOLVED_STEPS = 100_000

#: the generalization test's grid (NEAT's experiments.cpp; Gruau et al. 1996): x, x_dot, theta1 and theta1_dot each
#: at these fractions of their ranges, the short pole upright and still: 5^4 = 625 starts
GRID_FRACTIONS = (0.05, 0.25, 0.5, 0.75, 0.95)
GRID_RANGES = ((4.32, 2.16), (2.70, 1.35), (0.12566304, 0.06283152), (0.30019504, 0.15009752))  # (span, offset)

Fitness = Literal["standard", "damping"]
Start = Literal["standard", "grid"]
Array = Any  # a numpy array or a torch tensor: `advance` uses only what both have


class Ops:
    """The few array functions the physics needs beyond arithmetic, for numpy or torch."""

    def __init__(
        self,
        stack: Callable[[list[Array]], Array],
        cos_sin: Callable[[Array], tuple[Array, Array]],
        where: Callable[[Array, Array, Array], Array],
        slots: Callable[[Array], Array],
        floats: Callable[[Array], Array],
    ) -> None:
        self.stack, self.cos_sin, self.where, self.slots, self.floats = stack, cos_sin, where, slots, floats


def _numpy_cos_sin(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The C library's cos/sin (numpy's own SIMD loops may round differently from it)."""
    return np.array([math.cos(t) for t in theta]), np.array([math.sin(t) for t in theta])


def _torch_cos_sin(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin through torch.polar, whose CPU kernel calls the C library (torch.cos/sin are off by an ulp at times);
    compiled code has no complex numbers and uses torch.cos/sin."""
    if torch.compiler.is_compiling():
        return torch.cos(theta), torch.sin(theta)
    rotation = torch.polar(torch.ones_like(theta), theta)
    return rotation.real, rotation.imag


NUMPY = Ops(
    lambda columns: np.stack(columns, axis=1),
    _numpy_cos_sin,
    np.where,
    lambda like: np.arange(DAMPING_WINDOW),
    lambda mask: mask.astype(np.float64),
)
TORCH = Ops(
    lambda columns: torch.stack(columns, dim=1),
    _torch_cos_sin,
    torch.where,
    lambda like: torch.arange(DAMPING_WINDOW, device=like.device),
    lambda mask: mask.to(torch.float64),
)


def derivatives(state: list[Array], force: Array, cart_friction: float, ops: Ops) -> list[Array]:
    """d/dt of the state columns (x, x_dot, theta_i, theta_i_dot, ...; each [N]) under `force` [N]: NEAT's
    `CartPole::step`, with Shark's cart friction term."""
    x_dot = state[1]
    poles = (len(state) - 2) // 2
    if cart_friction:
        force = force - cart_friction * (ops.floats(x_dot > 0) - ops.floats(x_dot < 0))
    pushes, masses, terms = force, 0.0, []
    for i in range(poles):
        theta, theta_dot = state[2 + 2 * i], state[3 + 2 * i]
        cos, sin = ops.cos_sin(theta)
        g_sin = GRAVITY * sin
        mass_length = HALF_LENGTHS[i] * MASS_POLES[i]
        friction = POLE_FRICTION * theta_dot / mass_length
        pushes = pushes + (mass_length * theta_dot * theta_dot * sin + 0.75 * MASS_POLES[i] * cos * (friction + g_sin))
        masses = masses + MASS_POLES[i] * (1 - 0.75 * cos * cos)
        terms.append((theta_dot, cos, g_sin, friction))
    x_acc = pushes / (masses + MASS_CART)
    columns = [x_dot, x_acc]
    for i, (theta_dot, cos, g_sin, friction) in enumerate(terms):
        columns += [theta_dot, -0.75 * (x_acc * cos + g_sin + friction) / HALF_LENGTHS[i]]
    return columns


def runge_kutta(state: list[Array], force: Array, cart_friction: float, ops: Ops) -> list[Array]:
    """One fourth-order Runge-Kutta step of TAU seconds (Numerical Recipes' `rk4`, as NEAT and Shark use it), on
    the state's columns (kept apart, not stacked: in compiled code every stacked intermediate costs a buffer)."""
    half, sixth = TAU * 0.5, TAU / 6.0

    def moved(by: float, slope: list[Array]) -> list[Array]:
        return [value + by * rate for value, rate in zip(state, slope)]

    slope = derivatives(state, force, cart_friction, ops)
    trial = derivatives(moved(half, slope), force, cart_friction, ops)
    middle = derivatives(moved(half, trial), force, cart_friction, ops)
    end = moved(TAU, middle)
    middle = [m + t for m, t in zip(middle, trial)]
    trial = derivatives(end, force, cart_friction, ops)
    return [value + sixth * (s + t + 2.0 * m) for value, s, t, m in zip(state, slope, trial, middle)]


def fallen(state: Array) -> Array:
    """Bool [N]: the cart left the track or a pole fell beyond ANGLE_LIMIT."""
    out = (state[:, 0] < -TRACK_LIMIT) | (state[:, 0] > TRACK_LIMIT)
    for i in range((state.shape[1] - 2) // 2):
        theta = state[:, 2 + 2 * i]
        out = out | (theta < -ANGLE_LIMIT) | (theta > ANGLE_LIMIT)
    return out


def advance(
    state: dict[str, Array], push: Array, fitness: Fitness, max_steps: int, cart_friction: float, ops: Ops
) -> tuple[dict[str, Array], Array, Array, Array]:
    """One action of every env, `push` [N] float64 in [-1, 1]: physics [N, D] float64, steps [N] float64 and (damping)
    jiggle [N, DAMPING_WINDOW], the last balanced steps' |x| + |x_dot| + |theta1| + |theta1_dot| -> next state,
    float64 rewards, terminated (fallen), truncated (max_steps reached)."""
    force = FORCE * push
    columns = [state["physics"][:, j] for j in range(state["physics"].shape[1])]
    for _ in range(SUBSTEPS):
        columns = runge_kutta(columns, force, cart_friction, ops)
    physics = ops.stack(columns)
    steps = state["steps"] + 1
    fell = fallen(physics)
    truncated = (steps >= max_steps) & ~fell
    following = {**state, "physics": physics, "steps": steps}
    if fitness == "standard":
        return following, ops.floats(~fell), fell, truncated
    jiggle = abs(physics[:, 0]) + abs(physics[:, 1]) + abs(physics[:, 2]) + abs(physics[:, 3])
    slot = ops.slots(steps)[None, :] == ((steps - 1) % DAMPING_WINDOW)[:, None]
    window = ops.where(slot & ~fell[:, None], jiggle[:, None], state["jiggle"])
    following["jiggle"] = window
    balanced = steps - ops.floats(fell)
    damped = balanced > DAMPING_WINDOW
    total = window.sum(1) + ops.floats(~damped)  # never 0 where it is used
    score = 0.1 * (balanced / DAMPING_STEPS) + ops.floats(damped) * (0.9 * (0.75 / total))
    return following, ops.floats(fell | truncated) * score, fell, truncated


def observe(physics: Array, velocities: bool) -> list[Array]:
    """The observed columns of the physics, scaled as NEAT scales its inputs."""
    columns = [physics[:, 0] / POSITION_SCALE]
    if velocities:
        columns.append(physics[:, 1] / VELOCITY_SCALE)
    for i in range((physics.shape[1] - 2) // 2):
        columns.append(physics[:, 2 + 2 * i] / ANGLE_SCALE)
        if velocities:
            columns.append(physics[:, 3 + 2 * i] / VELOCITY_SCALE)
    return columns


def generalization_starts(poles: int) -> np.ndarray:
    """The 625 start states [625, 2 + 2 poles] of the generalization test, x varying slowest."""
    axes = [[f * span - offset for f in GRID_FRACTIONS] for span, offset in GRID_RANGES]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 4)
    return np.concatenate([grid, np.zeros((len(grid), 2 * poles - 2))], axis=1)


def _check(poles: int, fitness: str, max_steps: int | None, cart_friction: float, start: str) -> int:
    """The episode length after checking the keywords (ValueError naming the wrong one)."""
    if poles not in (1, 2):
        raise ValueError(f"poles must be 1 or 2, got {poles!r}")
    if start not in ("standard", "grid"):
        raise ValueError(f"start must be 'standard' or 'grid', got {start!r}")
    if fitness not in ("standard", "damping"):
        raise ValueError(f"fitness must be 'standard' or 'damping', got {fitness!r}")
    if not isinstance(cart_friction, (int, float)) or cart_friction < 0:
        raise ValueError(f"cart_friction must be a number >= 0, got {cart_friction!r}")
    if max_steps is None:
        return SOLVED_STEPS if fitness == "standard" else DAMPING_STEPS
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be None or an int >= 1, got {max_steps!r}")
    if fitness == "damping" and max_steps != DAMPING_STEPS:
        raise ValueError(f"max_steps: the damping fitness is defined over {DAMPING_STEPS} steps")
    return int(max_steps)


_BACKGROUND, _TRACK, _CART = (255, 255, 255), (0, 0, 0), (0, 0, 0)
_POLES, _AXLE = ((202, 152, 101), (101, 152, 202)), (129, 132, 203)


class PoleBalancingEnv(gym.Env):
    """
    ## Description

    A cart on a 4.8 m track with one or two hinged poles (Wieland's double pole: 1 m and 0.1 m long), to be kept
    upright by pushing the cart. Without velocities (the default, "DPNV" for two poles) the controller sees only
    the cart position and the pole angles, so it must estimate the velocities from what it saw before.

    ## Action Space

    ``Box(-1, 1, (1,), float32)``: the force on the cart, times 10 N.

    ## Observation Space

    ``Box(float32)``: x / 4.8 and each pole's angle / 0.52 (2 or 3 entries); with ``velocities=True`` also x_dot / 2
    and each angular velocity / 2, interleaved (x, x_dot, theta1, theta1_dot, ...).

    ## Rewards

    ``fitness="standard"``: 1 for every step after which the cart and poles are within bounds. ``"damping"``:
    Gruau's fitness, paid at the episode's last step (see the module docstring).

    ## Starting State

    The long pole at 0.07 rad, everything else 0, whatever the seed. With ``start="grid"``, one of the 625 starts of
    the generalization test instead: start ``seed % 625`` of `generalization_starts`. ``reset(options={"state":
    [...]})`` starts from a given (x, x_dot, theta1, theta1_dot[, theta2, theta2_dot]).

    ## Episode End

    1. Termination: |x| > 2.4 m or a pole beyond 36 degrees.
    2. Truncation: ``max_steps`` steps (default 100,000 for the standard fitness, 1,000 for damping).

    ## Arguments

    ``poles`` (1 or 2), ``velocities`` (bool), ``fitness`` ("standard" or "damping"), ``max_steps``,
    ``cart_friction`` (default 0.0), ``start`` ("standard" or "grid"), ``render_mode`` (``"rgb_array"``, numpy
    only).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        poles: int = 2,
        velocities: bool = False,
        fitness: Fitness = "standard",
        max_steps: int | None = None,
        cart_friction: float = 0.0,
        start: Start = "standard",
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.max_steps = _check(poles, fitness, max_steps, cart_friction, start)
        self.poles, self.velocities, self.fitness, self.cart_friction = poles, bool(velocities), fitness, cart_friction
        self.start = start
        self.key: int | None = None  # the episode's key (start="grid" picks its start from it)
        self.render_mode = render_mode
        # x / 4.8 stays within +-0.51 and angles / 0.52 within +-1.3 until a failure ends the episode
        bounds = [1.0] + [2.0] * poles if not velocities else [1.0, np.inf] + [2.0, np.inf] * poles
        self.observation_space = spaces.Box(-np.array(bounds, np.float32), np.array(bounds, np.float32))
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.state: dict[str, np.ndarray] | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The standard start (the seed changes nothing), the seed's grid start, or ``options["state"]``."""
        super().reset(seed=seed)
        self.key = episode_key(seed, self.key, self.np_random)
        given = (options or {}).get("state")
        if given is not None:
            physics = _given_starts(given, self.poles, 1)
        else:
            physics = starts(self.poles, self.start, np.array([self.key], dtype=np.int64))
        self.state = {"physics": physics, "steps": np.zeros(1)}
        if self.fitness == "damping":
            self.state["jiggle"] = np.zeros((1, DAMPING_WINDOW))
        return self._observation(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Push the cart for one action (two Runge-Kutta steps of 0.01 s)."""
        if self.state is None:
            raise RuntimeError("call reset before step")
        push = np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[:1], -1.0, 1.0)
        self.state, reward, terminated, truncated = advance(
            self.state, push, self.fitness, self.max_steps, self.cart_friction, NUMPY
        )
        return self._observation(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}

    def _observation(self) -> np.ndarray:
        return np.array([column[0] for column in observe(self.state["physics"], self.velocities)], dtype=np.float32)

    def render(self) -> np.ndarray | None:
        """Track, cart and poles as a 600x400 RGB image (numpy only)."""
        if self.render_mode is None:
            gym.logger.warn("render() needs render_mode='rgb_array'")
            return None
        width, height = 600, 400
        image = canvas(height, width, _BACKGROUND)
        if self.state is None:
            return image
        physics = self.state["physics"][0]
        scale = width / (2 * TRACK_LIMIT)
        track_y = height - 100
        cart_x = physics[0] * scale + width / 2.0
        fill_rect(image, 0, track_y, width, track_y + 1, _TRACK)
        fill_rect(image, cart_x - 25, track_y - 15, cart_x + 25, track_y + 15, _CART)
        axle_y = track_y - 7.5
        for i in range(self.poles):
            length, theta = scale * 2 * HALF_LENGTHS[i], physics[2 + 2 * i]
            tip = (cart_x + length * math.sin(theta), axle_y - length * math.cos(theta))
            draw_line(image, cart_x, axle_y, *tip, 8.0 - 4.0 * i, _POLES[i])
        fill_circle(image, cart_x, axle_y, 4.0, _AXLE)
        return image


def starts(poles: int, start: Start, keys: np.ndarray) -> np.ndarray:
    """[len(keys), 2 + 2 poles] float64 start states: the long pole at START_ANGLE and all else 0, or ("grid") the
    generalization start key % 625."""
    if start == "grid":
        return generalization_starts(poles)[keys % len(GRID_FRACTIONS) ** 4]
    physics = np.zeros((len(keys), 2 + 2 * poles))
    physics[:, 2] = START_ANGLE
    return physics


def _given_starts(given: Any, poles: int, count: int) -> np.ndarray:
    """Start states from the user, one for all or one per env, checked for shape."""
    physics = np.array(given, dtype=np.float64)
    width = 2 + 2 * poles
    if physics.shape not in ((width,), (count, width)):
        raise ValueError(f"a start state has {width} entries (x, x_dot, theta_i, theta_i_dot), got {physics.shape}")
    return np.broadcast_to(physics, (count, width)).copy()


class PoleBalancingVectorEnv(TorchVectorEnv):
    """``num_envs`` pole-balancing carts stepped together as torch tensors on ``device``, through the same
    `advance` as :class:`PoleBalancingEnv` (bit-identical on the CPU). ``reset(options={"states": [...]})`` takes
    one start state for all envs or one per env."""

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "cpu",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: None = None,
        poles: int = 2,
        velocities: bool = False,
        fitness: Fitness = "standard",
        max_steps: int | None = None,
        cart_friction: float = 0.0,
        start: Start = "standard",
    ):
        twin = PoleBalancingEnv(poles, velocities, fitness, max_steps, cart_friction, start)
        super().__init__(num_envs, twin, device, autoreset_mode, render_mode)
        self.poles, self.velocities, self.fitness = twin.poles, twin.velocities, twin.fitness
        self.max_steps, self.cart_friction, self.start = twin.max_steps, twin.cart_friction, start
        self._grid = torch.as_tensor(generalization_starts(twin.poles), device=self.device)

    def _start(self, keys: torch.Tensor, options: dict[str, Any]) -> State:
        given = options.get("states")
        count = len(keys)
        if given is not None:
            physics = torch.as_tensor(_given_starts(given, self.poles, count), device=keys.device)
        elif self.start == "grid":
            physics = self._grid[keys % len(self._grid)]
        else:  # the standard start, made on the device
            physics = torch.zeros(count, 2 + 2 * self.poles, dtype=torch.float64, device=keys.device)
            physics[:, 2] = START_ANGLE
        state = {
            "physics": physics,
            "steps": torch.zeros(count, dtype=torch.float64, device=keys.device),
        }
        if self.fitness == "damping":
            state["jiggle"] = torch.zeros(count, DAMPING_WINDOW, dtype=torch.float64, device=keys.device)
        return state

    def _observe(self, state: State) -> torch.Tensor:
        return torch.stack(observe(state["physics"], self.velocities), dim=1).to(torch.float32)

    def _advance(self, state: State, actions: torch.Tensor) -> tuple[State, torch.Tensor, torch.Tensor, torch.Tensor]:
        push = actions.reshape(len(actions), -1)[:, 0].to(torch.float64).clamp(-1.0, 1.0)
        return advance(state, push, self.fitness, self.max_steps, self.cart_friction, TORCH)
