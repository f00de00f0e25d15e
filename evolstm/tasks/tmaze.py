"""Bakker's T-maze: remember a cue seen at the start of a corridor until its far end."""

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from evolstm import counter_random
from evolstm.tasks.batched import State, TorchVectorEnv, episode_key
from evolstm.tasks.drawing import canvas, fill_circle, fill_rect, warn_no_render_mode

NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3
GOAL_REWARD = 4.0
WRONG_GOAL_REWARD = -0.1
WALL_REWARD = -0.1
MOVE_REWARD = 0.0
#: Largest corridor and step limit the constructor accepts (a replay plays whatever a policy file's metadata says).
MAX_LENGTH, MAX_STEPS = 10_000, 100_000

CUE_NORTH_OBS = (0.0, 1.0, 1.0)
CUE_SOUTH_OBS = (1.0, 1.0, 0.0)
CORRIDOR_OBS = (1.0, 0.0, 1.0)
JUNCTION_OBS = (0.0, 1.0, 0.0)

CELL_PX = 32
_WALL, _FLOOR, _AGENT = (40, 40, 40), (225, 225, 225), (30, 90, 220)
_GOAL, _OTHER, _CUE = (60, 180, 75), (200, 70, 60), (240, 200, 40)


def draw_tmaze(length: int, goal_up: bool, agent_row: int, agent_column: int) -> np.ndarray:
    """A T-maze (start cell, corridor of `length` cells, the two goal cells at its end; rows 0-2 from the top) in
    32 px cells: goal cell green, the other red, start cell yellow with a green bar on the goal's side, the agent a
    blue disc. Shared by the T-maze and the passive T-maze."""
    image = canvas(5 * CELL_PX, (length + 3) * CELL_PX, _WALL)

    def cell(row: int, column: int, color: tuple[int, int, int]) -> tuple[int, int]:
        x, y = (column + 1) * CELL_PX, (row + 1) * CELL_PX
        fill_rect(image, x + 1, y + 1, x + CELL_PX - 1, y + CELL_PX - 1, color)
        return x, y

    for column in range(1, length + 1):
        cell(1, column, _FLOOR)
    cell(0, length, _GOAL if goal_up else _OTHER)
    cell(2, length, _OTHER if goal_up else _GOAL)
    x, y = cell(1, 0, _CUE)
    bar_top = y + 2 if goal_up else y + CELL_PX - 8
    fill_rect(image, x + 2, bar_top, x + CELL_PX - 2, bar_top + 6, _GOAL)
    fill_circle(image, (agent_column + 1.5) * CELL_PX, (agent_row + 1.5) * CELL_PX, 0.3 * CELL_PX, _AGENT)
    return image


def draw_goals(keys: counter_random.Ints) -> counter_random.Ints:
    """Each episode's goal arm (0 = north, 1 = south, int64 [N]) from its key (a tensor, or a numpy array for the
    scalar env), as both env forms draw it."""
    return counter_random.integers(keys, "starts", counter_random.arange(keys, 0, 1), 2)[:, 0]


class TMazeEnv(gym.Env[np.ndarray, int]):
    """
    ## Description

    The T-maze of Bakker (2002), "Reinforcement learning with long short-term memory".
    The agent starts at position 0 of a corridor whose junction is at position ``length``.
    At the start it sees a cue telling whether the goal is in the north or the south arm
    of the junction; in the rest of the corridor the cue is gone, so the agent has to carry
    it in memory for ``length`` steps and then turn the right way.

    ## Action Space

    ``Discrete(4)``: 0 = north, 1 = east (towards the junction), 2 = south, 3 = west.

    ## Observation Space

    ``Box(0, 1, (3,), float32)`` with Bakker's encoding:

    | Cell                     | Observation |
    |--------------------------|-------------|
    | start, goal north        | `[0, 1, 1]` |
    | start, goal south        | `[1, 1, 0]` |
    | corridor 1 .. length - 1 | `[1, 0, 1]` |
    | junction                 | `[0, 1, 0]` |

    The cue is shown whenever the agent stands on position 0, also when it walks back there.

    ## Rewards

    ``+4.0`` for entering the goal arm, ``-0.1`` for entering the other arm, ``-0.1`` for
    any move that leaves the agent where it was (bumping into a wall, east at the
    junction, west at the start, north or south in the corridor), ``0`` otherwise.
    The optimal return is 4.0; a memoryless policy gets at best 1.95 in expectation.

    ## Starting State

    The agent is at position 0; the goal arm is north or south with probability 1/2, drawn from the episode's seed
    through evolstm's counter-based generator (`evolstm.counter_random`, shared with the batched form).

    ## Episode End

    1. Termination: the agent moves north or south at the junction.
    2. Truncation: ``max_steps`` steps have been taken (handled by the environment itself).

    ## Arguments

    - ``length`` (int, default 10): corridor length 1 <= N <= 10,000; the junction is at position N.
    - ``max_steps`` (int or None, default None): step limit, at most 100,000; ``4 * (length + 1)`` if None.
    - ``render_mode`` (str or None): ``"rgb_array"`` or ``"ansi"``.

    ``info`` holds ``goal`` (0 = north, 1 = south) and the agent's ``position``, and ``event`` where the
    observation matters for memory: ``"cue"`` when it shows the cue, ``"decision"`` at the junction, where the
    next action decides the arm (evolstm's replays mark these steps).
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        length: int = 10,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ):
        if not isinstance(length, (int, np.integer)) or not 1 <= length <= MAX_LENGTH:
            raise ValueError(f"length must be an int in [1, {MAX_LENGTH}], got {length!r}")
        if max_steps is not None and (not isinstance(max_steps, (int, np.integer)) or not 1 <= max_steps <= MAX_STEPS):
            raise ValueError(f"max_steps must be None or an int in [1, {MAX_STEPS}], got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.length = int(length)
        self.max_steps = 4 * (self.length + 1) if max_steps is None else int(max_steps)
        self.render_mode = render_mode

        self.action_space = spaces.Discrete(4)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)

        self.key: int | None = None  # the current episode's key (see evolstm.tasks.batched.episode_key)
        self.goal = 0
        self.position = 0
        self.steps = 0
        self.chosen_arm = -1  # -1 until the agent enters an arm, then 0 north / 1 south

    def _observation(self) -> np.ndarray:
        """Bakker's 3-bit observation of the current cell (the cue only at position 0)."""
        if self.position == 0:
            cells = CUE_NORTH_OBS if self.goal == 0 else CUE_SOUTH_OBS
        elif self.position == self.length:
            cells = JUNCTION_OBS
        else:
            cells = CORRIDOR_OBS
        return np.array(cells, dtype=np.float32)

    def _info(self) -> dict[str, int | str]:
        """Episode facts for logging and tests, and the memory event the observation marks (see the docstring)."""
        info: dict[str, int | str] = {"goal": self.goal, "position": self.position}
        if self.chosen_arm == -1 and self.position in (0, self.length):
            info["event"] = "cue" if self.position == 0 else "decision"
        return info

    def _move(self, action: int) -> int:
        """Position after a corridor move; an impossible move leaves it unchanged."""
        if action == EAST and self.position < self.length:
            return self.position + 1
        if action == WEST and self.position > 0:
            return self.position - 1
        return self.position

    def _enters_arm(self, action: int) -> bool:
        """Whether the action turns into an arm, which ends the episode."""
        return self.position == self.length and action in (NORTH, SOUTH)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Start a new episode at position 0 with a freshly drawn goal arm."""
        super().reset(seed=seed)
        self.key = episode_key(seed, self.key, self.np_random)
        self.goal = int(draw_goals(np.array([self.key], dtype=np.int64))[0])
        self.position = 0
        self.steps = 0
        self.chosen_arm = -1
        return self._observation(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, int]]:
        """Move (or turn into an arm at the junction) and return the Gymnasium 5-tuple."""
        assert self.action_space.contains(action), f"{action!r} ({type(action)}) invalid"
        action = int(action)
        self.steps += 1
        terminated = self._enters_arm(action)
        if terminated:
            self.chosen_arm = 0 if action == NORTH else 1
            reward = GOAL_REWARD if self.chosen_arm == self.goal else WRONG_GOAL_REWARD
        else:
            new_position = self._move(action)
            reward = WALL_REWARD if new_position == self.position else MOVE_REWARD
            self.position = new_position
        truncated = not terminated and self.steps >= self.max_steps
        return self._observation(), reward, terminated, truncated, self._info()

    def render(self) -> np.ndarray | str | None:
        """Draw the maze as an RGB image or a small text picture, per ``render_mode``."""
        if self.render_mode is None:
            warn_no_render_mode("evolstm/TMaze-v0")
            return None
        if self.render_mode == "ansi":
            return self._render_ansi()
        return self._render_rgb()

    def _agent_cell(self) -> tuple[int, int]:
        """(row, column) of the agent on the 3-row maze grid."""
        if self.chosen_arm == -1:
            return 1, self.position
        return (0 if self.chosen_arm == 0 else 2), self.length

    def _render_ansi(self) -> str:
        """Rows: north arm, corridor, south arm; G goal arm, x other arm, c cue, @ agent."""
        arms = ("G", "x") if self.goal == 0 else ("x", "G")
        rows = [
            list("#" * self.length + arms[0]),
            list("c" + "." * (self.length - 1) + "J"),
            list("#" * self.length + arms[1]),
        ]
        row, column = self._agent_cell()
        rows[row][column] = "@"
        cue = "north" if self.goal == 0 else "south"
        return "\n".join("".join(r) for r in rows) + f"\ncue: {cue}\n"

    def _render_rgb(self) -> np.ndarray:
        row, column = self._agent_cell()
        return draw_tmaze(self.length, self.goal == 0, row, column)


class TMazeVectorEnv(TorchVectorEnv):
    """``num_envs`` T-mazes stepped together as torch tensors on ``device``.

    Same task, kwargs and dynamics as :class:`TMazeEnv` (bitwise-equal observations,
    rewards, terminations and truncations for the same seeds and actions); ``info`` is
    empty. Observations are float32 [num_envs, 3], rewards float64 [num_envs].
    """

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "cpu",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: None = None,
        length: int = 10,
        max_steps: int | None = None,
    ):
        twin = TMazeEnv(length=length, max_steps=max_steps)
        super().__init__(num_envs, twin, device, autoreset_mode, render_mode)
        self.length, self.max_steps = twin.length, twin.max_steps
        # Rows: cue north, cue south, corridor, junction.
        self._cells = torch.tensor(
            [CUE_NORTH_OBS, CUE_SOUTH_OBS, CORRIDOR_OBS, JUNCTION_OBS],
            dtype=torch.float32,
            device=self.device,
        )
        rewards = (GOAL_REWARD, WRONG_GOAL_REWARD, WALL_REWARD, MOVE_REWARD)
        self._goal_reward, self._wrong_reward, self._wall_reward, self._move_reward = (
            torch.tensor(r, dtype=torch.float64, device=self.device) for r in rewards
        )

    def _start(self, keys: torch.Tensor, options: dict[str, Any]) -> State:
        # two tensors, not one twice: a compiled step would otherwise be traced again for the aliasing
        return {"goal": draw_goals(keys), "position": torch.zeros_like(keys), "steps": torch.zeros_like(keys)}

    def _observe(self, state: State) -> torch.Tensor:
        position = state["position"]
        corridor_or_junction = torch.where(position == self.length, 3, 2)
        return self._cells[torch.where(position == 0, state["goal"], corridor_or_junction)]

    def _advance(self, state: State, actions: torch.Tensor) -> tuple[State, torch.Tensor, torch.Tensor, torch.Tensor]:
        position, steps = state["position"], state["steps"] + 1
        turns = (actions == NORTH) | (actions == SOUTH)
        terminated = (position == self.length) & turns
        chosen_goal = torch.where(actions == NORTH, 0, 1) == state["goal"]
        arm_reward = torch.where(chosen_goal, self._goal_reward, self._wrong_reward)
        east = (actions == EAST) & (position < self.length)
        west = (actions == WEST) & (position > 0)
        new_position = position + east.long() - west.long()
        move_reward = torch.where(new_position == position, self._wall_reward, self._move_reward)
        rewards = torch.where(terminated, arm_reward, move_reward)
        position = torch.where(terminated, position, new_position)
        truncated = ~terminated & (steps >= self.max_steps)
        return {**state, "position": position, "steps": steps}, rewards, terminated, truncated
