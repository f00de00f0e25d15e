"""The passive T-maze of Ni et al. (2023): a cue seen once, a corridor walked at one cell per step, a final turn."""

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from evolstm.tasks.batched import State, TorchVectorEnv, episode_key
from evolstm.tasks.drawing import warn_no_render_mode
from evolstm.tasks.tmaze import draw_goals, draw_tmaze

RIGHT, UP, LEFT, DOWN = 0, 1, 2, 3
#: (dx, dy) of each action, in Ni et al.'s order
MOVES = ((1, 0), (0, 1), (-1, 0), (0, -1))
GOAL_REWARD = 1.0
#: Largest corridor the constructor accepts (a replay plays whatever a policy file's metadata says).
MAX_LENGTH = 10_000


def goal_sides(goals: Any) -> Any:
    """The goal's y (+1 = up, -1 = down) from `draw_goals`' arm (0 = up, 1 = down), elementwise."""
    return 1 - 2 * goals


class PassiveTMazeEnv(gym.Env[np.ndarray, int]):
    """
    ## Description

    The passive T-maze of Ni et al. (2023), "When do transformers shine in RL? Decoupling memory from credit
    assignment" (their ``TMazeClassicPassive`` with penalty ``-1 / length``). The agent starts at x = 0 of a corridor
    whose junction is at x = ``length``, with goal cells above (y = +1) and below (y = -1) the junction. The first
    observation shows which of the two is the goal; the episode lasts exactly ``length + 1`` steps, so the agent has
    to walk right at every step and turn the cued way at the last one, carrying the cue for ``length`` steps.

    ## Action Space

    ``Discrete(4)``: 0 = right (+x), 1 = up (+y), 2 = left (-x), 3 = down (-y). A move into a cell outside the maze
    (corridor x = 0 .. length at y = 0, goal cells x = length, y = +-1) leaves the agent in place: up and down work
    only at the junction, and from a goal cell only the move back to the junction.

    ## Observation Space

    ``Box(-1, 1, (2,), float32)``:

    | Cell                                 | Observation   |
    |--------------------------------------|---------------|
    | x = 0, first observation only        | `[0, goal_y]` |
    | x = 0 later, corridor 0 < x < length | `[0, 0]`      |
    | junction or goal cell (x = length)   | `[1, y]`      |

    ## Rewards

    After step t (t = 1 .. length) ``-1 / length`` if the agent is behind the pace of one cell per step (x < t),
    else 0; after the final step t = length + 1, ``1.0`` if the agent stands on the goal cell, else 0 (no penalty).
    The optimal return is 1.0 (``length`` rights, then the cued turn); a memoryless policy gets at best 0.5 in
    expectation.

    ## Starting State

    The agent is at x = 0, y = 0; the goal is up or down with probability 1/2, drawn from the episode's seed through
    evolstm's counter-based generator (`evolstm.tasks.tmaze.draw_goals`, arm 0 = up, 1 = down; shared with the
    batched form).

    ## Episode End

    1. Termination: ``length + 1`` steps have been taken (always; the episode never ends earlier nor truncates).

    ## Arguments

    - ``length`` (int, default 10): corridor length 1 <= L <= 10,000; the junction is at x = L.
    - ``render_mode`` (str or None): ``"rgb_array"`` or ``"ansi"``.

    ``info`` holds ``goal`` (the goal's y, +1 = up, -1 = down) and the agent's ``position`` (x, y), and ``event``
    where the observation matters for memory: ``"cue"`` at the first observation, ``"decision"`` at the junction
    before the final step, where the next action decides the goal (evolstm's replays mark these steps).
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(self, length: int = 10, render_mode: str | None = None):
        if not isinstance(length, (int, np.integer)) or not 1 <= length <= MAX_LENGTH:
            raise ValueError(f"length must be an int in [1, {MAX_LENGTH}], got {length!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.length = int(length)
        self.penalty = -1.0 / self.length
        self.render_mode = render_mode

        self.action_space = spaces.Discrete(4)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

        self.key: int | None = None  # the current episode's key (see evolstm.tasks.batched.episode_key)
        self.goal = 1
        self.x = self.y = 0
        self.steps = 0

    def _observation(self) -> np.ndarray:
        """``[0, goal]`` at the first step only, ``[1, y]`` at x = length, ``[0, 0]`` elsewhere."""
        if self.steps == 0:
            return np.array([0.0, self.goal], dtype=np.float32)
        if self.x == self.length:
            return np.array([1.0, self.y], dtype=np.float32)
        return np.zeros(2, dtype=np.float32)

    def _info(self) -> dict[str, Any]:
        """Episode facts for logging and tests, and the memory event the observation marks (see the docstring)."""
        info: dict[str, Any] = {"goal": self.goal, "position": (self.x, self.y)}
        if self.steps == 0:
            info["event"] = "cue"
        elif self.steps <= self.length and (self.x, self.y) == (self.length, 0):
            info["event"] = "decision"
        return info

    def _valid(self, x: int, y: int) -> bool:
        """Whether (x, y) is a cell of the maze: the corridor or one of the two goal cells."""
        return (y == 0 and 0 <= x <= self.length) or (x == self.length and y in (-1, 1))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode at x = 0 with a freshly drawn goal."""
        super().reset(seed=seed)
        self.key = episode_key(seed, self.key, self.np_random)
        self.goal = int(goal_sides(draw_goals(np.array([self.key], dtype=np.int64)))[0])
        self.x = self.y = 0
        self.steps = 0
        return self._observation(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move (if the target cell is in the maze) and return the Gymnasium 5-tuple."""
        assert self.action_space.contains(action), f"{action!r} ({type(action)}) invalid"
        assert self.steps <= self.length, "Call reset before stepping a finished episode."
        dx, dy = MOVES[int(action)]
        if self._valid(self.x + dx, self.y + dy):
            self.x, self.y = self.x + dx, self.y + dy
        self.steps += 1
        terminated = self.steps == self.length + 1
        if terminated:
            reward = GOAL_REWARD if self.y == self.goal else 0.0
        else:
            reward = self.penalty if self.x < self.steps else 0.0
        return self._observation(), reward, terminated, False, self._info()

    def render(self) -> np.ndarray | str | None:
        """Draw the maze as an RGB image or a small text picture, per ``render_mode``."""
        if self.render_mode is None:
            warn_no_render_mode("evolstm/PassiveTMaze-v0")
            return None
        return self._render_ansi() if self.render_mode == "ansi" else self._render_rgb()

    def _render_ansi(self) -> str:
        """Rows: up goal cell, corridor, down goal cell; G goal, x other, c start, J junction, @ agent."""
        up, down = ("G", "x") if self.goal == 1 else ("x", "G")
        rows = [list("#" * self.length + up), list("c" + "." * (self.length - 1) + "J"), list("#" * self.length + down)]
        rows[1 - self.y][self.x] = "@"
        return "\n".join("".join(r) for r in rows) + f"\nt={self.steps} goal: {'up' if self.goal == 1 else 'down'}\n"

    def _render_rgb(self) -> np.ndarray:
        return draw_tmaze(self.length, self.goal == 1, 1 - self.y, self.x)


class PassiveTMazeVectorEnv(TorchVectorEnv):
    """``num_envs`` passive T-mazes stepped together as torch tensors on ``device``.

    Same task, kwargs and dynamics as :class:`PassiveTMazeEnv` (bitwise-equal observations, rewards and terminations
    for the same seeds and actions); ``info`` is empty. Observations are float32 [num_envs, 2], rewards float64
    [num_envs]. An ended episode stepped on (autoreset DISABLED) stays terminated.
    """

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "cpu",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: None = None,
        length: int = 10,
    ):
        twin = PassiveTMazeEnv(length=length)
        super().__init__(num_envs, twin, device, autoreset_mode, render_mode)
        self.length, self.penalty = twin.length, twin.penalty
        rewards = (GOAL_REWARD, self.penalty, 0.0)
        self._goal_reward, self._penalty, self._zero = (
            torch.tensor(r, dtype=torch.float64, device=self.device) for r in rewards
        )

    def _start(self, keys: torch.Tensor, options: dict[str, Any]) -> State:
        # separate tensors, not one several times: a compiled step would otherwise be traced again for the aliasing
        return {
            "goal": goal_sides(draw_goals(keys)),
            "x": torch.zeros_like(keys),
            "y": torch.zeros_like(keys),
            "steps": torch.zeros_like(keys),
        }

    def _observe(self, state: State) -> torch.Tensor:
        at_end = state["x"] == self.length
        side = torch.where(state["steps"] == 0, state["goal"], torch.where(at_end, state["y"], 0))
        return torch.stack([at_end.to(torch.float32), side.to(torch.float32)], 1)

    def _advance(self, state: State, actions: torch.Tensor) -> tuple[State, torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = state["x"], state["y"]
        new_x = x + (actions == RIGHT).long() - (actions == LEFT).long()
        new_y = y + (actions == UP).long() - (actions == DOWN).long()
        corridor = (new_y == 0) & (new_x >= 0) & (new_x <= self.length)
        goal_cell = (new_x == self.length) & (new_y.abs() == 1)
        valid = corridor | goal_cell
        x, y = torch.where(valid, new_x, x), torch.where(valid, new_y, y)
        steps = torch.clamp(state["steps"] + 1, max=self.length + 1)
        terminated = steps == self.length + 1
        final_reward = torch.where(y == state["goal"], self._goal_reward, self._zero)
        pace_reward = torch.where(x < steps, self._penalty, self._zero)
        rewards = torch.where(terminated, final_reward, pace_reward)
        return {**state, "x": x, "y": y, "steps": steps}, rewards, terminated, torch.zeros_like(terminated)
