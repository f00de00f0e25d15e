"""Repeat-previous: output the symbol that was shown ``lag`` steps ago."""

import colorsys
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from evolstm import counter_random
from evolstm.tasks.batched import State, TorchVectorEnv, episode_key
from evolstm.tasks.drawing import canvas, fill_rect, warn_no_render_mode

TOTAL_REWARD = 1.0  # shared out evenly over the length - lag scored steps
#: Largest alphabet and episode the constructor accepts (a replay plays whatever a policy file's metadata says).
MAX_SYMBOLS, MAX_LENGTH = 1_000, 100_000

CELL_PX = 32
_BACKGROUND, _UNSEEN = (255, 255, 255), (220, 220, 220)
_CURRENT, _TARGET = (0, 0, 0), (120, 120, 120)


def symbols_at(keys: counter_random.Ints, t: counter_random.Ints, symbols: int) -> counter_random.Ints:
    """Symbol number ``t`` of each episode (int64, ``t`` broadcasting against ``keys.unsqueeze(-1)``), drawn from
    the episode's key: both env forms draw symbols this way, the batched one only those it shows or checks."""
    return counter_random.integers(keys, "starts", t, symbols)


def _palette(count: int) -> list[tuple[int, int, int]]:
    """``count`` well separated colours, one per symbol."""
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(k / count, 0.75, 0.9)) for k in range(count)]


class RepeatPreviousEnv(gym.Env[np.ndarray, int]):
    """
    ## Description

    At every step the agent is shown a random symbol and has to answer with the symbol it
    was shown ``lag`` steps earlier, so it must hold the last ``lag`` symbols in memory.

    ## Action Space

    ``Discrete(symbols)``: the symbol the agent recalls.

    ## Observation Space

    ``Box(0, 1, (symbols,), float32)``: one-hot encoding of the current symbol
    (all zeros in the final observation, after the last action).

    ## Rewards

    The action taken after seeing symbol ``t`` (0-based) earns ``1 / (length - lag)`` if
    ``t >= lag`` and it equals symbol ``t - lag``, else 0. The optimal return is 1.0;
    guessing earns ``1 / symbols`` in expectation.

    ## Starting State

    The ``length`` symbols of the episode are uniform, drawn from the episode's seed through evolstm's counter-based
    generator (`evolstm.counter_random`: symbol ``t`` is draw ``t``, the same in the batched form); the first is shown.

    ## Episode End

    1. Termination: ``length`` actions have been taken.

    ## Arguments

    - ``symbols`` (int, default 4): alphabet size 2 <= K <= 1,000.
    - ``lag`` (int, default 2): how many steps back to recall, >= 1.
    - ``length`` (int, default 16): number of steps, > ``lag`` and <= 100,000.
    - ``render_mode`` (str or None): ``"rgb_array"`` or ``"ansi"``.

    ``info`` holds ``step``, the number of actions taken so far.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        symbols: int = 4,
        lag: int = 2,
        length: int = 16,
        render_mode: str | None = None,
    ):
        if not isinstance(symbols, (int, np.integer)) or not 2 <= symbols <= MAX_SYMBOLS:
            raise ValueError(f"symbols must be an int in [2, {MAX_SYMBOLS}], got {symbols!r}")
        if not isinstance(lag, (int, np.integer)) or lag < 1:
            raise ValueError(f"lag must be an int >= 1, got {lag!r}")
        if not isinstance(length, (int, np.integer)) or not lag < length <= MAX_LENGTH:
            raise ValueError(f"length must be an int > lag ({lag}) and <= {MAX_LENGTH}, got {length!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.num_symbols = int(symbols)
        self.lag = int(lag)
        self.length = int(length)
        self.reward_per_hit = TOTAL_REWARD / (self.length - self.lag)
        self.render_mode = render_mode

        self.action_space = spaces.Discrete(self.num_symbols)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.num_symbols,), dtype=np.float32)

        self.key: int | None = None  # the current episode's key (see evolstm.tasks.batched.episode_key)
        self.sequence = np.zeros(self.length, dtype=np.int64)
        self.t = 0

    def _observation(self) -> np.ndarray:
        """One-hot of the symbol shown now, zeros once the episode is over."""
        observation = np.zeros(self.num_symbols, dtype=np.float32)
        if self.t < self.length:
            observation[self.sequence[self.t]] = 1.0
        return observation

    def _reward(self, action: int) -> float:
        """Reward for answering ``action`` after seeing symbol ``t``."""
        target = self._target_index()
        hit = target >= 0 and action == self.sequence[target]
        return self.reward_per_hit if hit else 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Draw the episode's whole symbol sequence and show its first symbol."""
        super().reset(seed=seed)
        self.key = episode_key(seed, self.key, self.np_random)
        key = np.array([self.key], dtype=np.int64)
        self.sequence = symbols_at(key, np.arange(self.length, dtype=np.int64), self.num_symbols)[0]
        self.t = 0
        return self._observation(), {"step": self.t}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, int]]:
        """Score the recalled symbol and show the next one."""
        assert self.action_space.contains(action), f"{action!r} ({type(action)}) invalid"
        assert self.t < self.length, "Call reset before stepping a finished episode."
        reward = self._reward(int(action))
        self.t += 1
        terminated = self.t >= self.length
        return self._observation(), reward, terminated, False, {"step": self.t}

    def render(self) -> np.ndarray | str | None:
        """Show the symbols seen so far, per ``render_mode``."""
        if self.render_mode is None:
            warn_no_render_mode("evolstm/RepeatPrevious-v0")
            return None
        if self.render_mode == "ansi":
            return self._render_ansi()
        return self._render_rgb()

    def _target_index(self) -> int:
        """Index of the symbol the next action should repeat, or -1 if none is scored."""
        return self.t - self.lag if self.lag <= self.t < self.length else -1

    def _render_ansi(self) -> str:
        """Seen symbols with the current one in brackets and the symbol to recall now."""
        seen = [str(s) for s in self.sequence[: self.t + 1]]
        if self.t < self.length:
            seen[-1] = f"[{seen[-1]}]"
        target = self._target_index()
        wanted = str(self.sequence[target]) if target >= 0 else "-"
        return f"t={self.t} seen: {' '.join(seen)}  recall: {wanted}\n"

    def _render_rgb(self) -> np.ndarray:
        """One coloured square per seen symbol; a black bar marks the current one and
        a grey bar the one to recall now; unseen steps are light grey."""
        colors = _palette(self.num_symbols)
        image = canvas(3 * CELL_PX, (self.length + 2) * CELL_PX, _BACKGROUND)
        top = CELL_PX
        for i in range(self.length):
            left = (i + 1) * CELL_PX
            color = colors[self.sequence[i]] if i <= self.t else _UNSEEN
            right, bottom = left + CELL_PX - 2, top + CELL_PX - 2
            fill_rect(image, left + 2, top + 2, right, bottom, color)
        for i, mark in ((self.t, _CURRENT), (self._target_index(), _TARGET)):
            if 0 <= i < self.length:
                left = (i + 1) * CELL_PX
                bar_top = top + CELL_PX + 4
                fill_rect(image, left + 2, bar_top, left + CELL_PX - 2, bar_top + 6, mark)
        return image


class RepeatPreviousVectorEnv(TorchVectorEnv):
    """``num_envs`` repeat-previous episodes stepped together as tensors on ``device``.

    Same task, kwargs and dynamics as :class:`RepeatPreviousEnv` (bitwise-equal
    observations, rewards and terminations for the same seeds and actions); ``info`` is
    empty. Observations are float32 [num_envs, symbols], rewards float64 [num_envs].
    """

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "cpu",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: None = None,
        symbols: int = 4,
        lag: int = 2,
        length: int = 16,
    ):
        twin = RepeatPreviousEnv(symbols=symbols, lag=lag, length=length)
        super().__init__(num_envs, twin, device, autoreset_mode, render_mode)
        self.num_symbols, self.lag, self.length = twin.num_symbols, twin.lag, twin.length
        self.reward_per_hit = twin.reward_per_hit
        self._symbols = torch.arange(self.num_symbols, device=self.device)

    def _start(self, keys: torch.Tensor, options: dict[str, Any]) -> State:
        # the last lag + 1 symbols shown (oldest first), so that a step draws only the next one
        streams = counter_random.stream_keys(keys, "starts")
        first = counter_random.below(
            counter_random.keyed_bits(streams, counter_random.arange(keys, 0, 1)), self.num_symbols
        )
        recent = torch.cat([torch.zeros(len(keys), self.lag, dtype=torch.int64, device=keys.device), first], 1)
        return {"streams": streams, "t": torch.zeros_like(keys), "recent": recent}

    def _observe(self, state: State) -> torch.Tensor:
        one_hot = state["recent"][:, -1:] == self._symbols
        return (one_hot & (state["t"] < self.length).unsqueeze(1)).to(torch.float32)

    def _advance(self, state: State, actions: torch.Tensor) -> tuple[State, torch.Tensor, torch.Tensor, torch.Tensor]:
        t, recent = state["t"], state["recent"]
        hit = (t >= self.lag) & (t < self.length) & (actions == recent[:, 0])
        rewards = hit.to(torch.float64) * self.reward_per_hit
        t = torch.clamp(t + 1, max=self.length)
        shown = counter_random.below(counter_random.keyed_bits(state["streams"], t.unsqueeze(1)), self.num_symbols)
        recent = torch.cat([recent[:, 1:], shown], 1)
        terminated = t >= self.length
        return {**state, "t": t, "recent": recent}, rewards, terminated, torch.zeros_like(terminated)
