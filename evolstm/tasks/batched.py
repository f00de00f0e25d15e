"""Shared bookkeeping of the torch-batched task environments.

A batched env keeps the state of ``num_envs`` episodes as a dict of tensors on ``device`` and steps them all at once.
Start states come from each episode's key (its reset seed) through the counter-based generator
(`evolstm.counter_random`), in one batched call on the device; the scalar twin draws through the same function, so
env ``i`` after ``reset(seed=s)`` starts bit-identically to the scalar env after ``reset(seed=s)``, whatever the
batch. Nothing in reset or step loops over envs on the host or copies from the device.
"""

import copy
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from torch import Tensor

from evolstm import counter_random

State = dict[str, Tensor]


def parse_autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    """NEXT_STEP or DISABLED from the enum, its value ("NextStep") or its name."""
    if isinstance(mode, str):
        by_text = {m.value.lower(): m for m in AutoresetMode}
        by_text.update({m.name.lower(): m for m in AutoresetMode})
        mode = by_text.get(mode.lower(), mode)
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED):
        raise ValueError(f"autoreset_mode must be AutoresetMode.NEXT_STEP or AutoresetMode.DISABLED, got {mode!r}")
    return mode


def episode_key(seed: int | None, previous: int | None, np_random: np.random.Generator) -> int:
    """A scalar env's key for the episode it is resetting: the seed when given, else the successor of the previous
    episode's key (as the batched form continues), else (never seeded) one drawn from the env's entropy-seeded
    `np_random`."""
    if seed is not None:
        return counter_random.check_seed(seed)
    if previous is None:
        return int(np_random.integers(2**63))
    return int(counter_random.successor(np.array([previous], dtype=np.int64))[0])


class TorchVectorEnv(VectorEnv):
    """Base of the batched envs: spaces, per-episode keys, reset masks and autoreset, all as tensor ops.

    Subclasses implement three pure functions of the state: ``_start`` (start states from keys), ``_observe`` and
    ``_advance`` (one step of every env). The state dict always holds ``key`` (int64 [num_envs], each episode's
    key), which the base manages.
    """

    metadata: dict[str, Any] = {
        "render_modes": [],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int,
        twin: gym.Env,
        device: str | torch.device = "cpu",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: None = None,
    ):
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        if render_mode is not None:
            raise ValueError(f"batched envs do not render; render_mode must be None, got {render_mode!r}")
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.autoreset_mode = parse_autoreset_mode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = None
        self.single_observation_space = twin.observation_space
        self.single_action_space = twin.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.state: State = {}  # filled by the first reset
        self._action_dtype = torch.int64 if isinstance(twin.action_space, gym.spaces.Discrete) else torch.float32
        self._ended = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    # ------------------------------------------------------------------ hooks (pure functions of tensors)

    def _start(self, keys: Tensor, options: dict[str, Any]) -> State:
        """Start states (all entries but ``key``) of episodes with keys ``keys`` [N], drawn from the keys only."""
        raise NotImplementedError

    def _observe(self, state: State) -> Tensor:
        """Float32 observations [N, obs_dim] of the states."""
        raise NotImplementedError

    def _advance(self, state: State, actions: Tensor) -> tuple[State, Tensor, Tensor, Tensor]:
        """Step every env: the next state (``key`` unchanged), float64 rewards, bool terminated, bool truncated."""
        raise NotImplementedError

    # ------------------------------------------------------------------ API

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | np.ndarray | Tensor | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Tensor, dict[str, Any]]:
        """Reset all envs, or those in ``options["reset_mask"]`` (bool [num_envs]).

        ``seed``: an int s seeds env i with s + i; a list, array or int64 tensor gives one seed per env (a list may
        hold None: that env continues its own key chain); None continues every env's key chain.
        """
        options = dict(options or {})
        mask = self._reset_mask(options.pop("reset_mask", None))
        keys = self._keys(seed)
        starts = {"key": keys, **self._start(keys, options)}
        if mask is None or not self.state:
            self.state = starts
            self._ended = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        else:
            self.state = _where(mask, starts, self.state)
            self._ended = self._ended & ~mask
        return self._observe(self.state), {}

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]:
        """Step all envs; with NEXT_STEP, envs that ended last step are reset instead (their key's successor)."""
        actions = torch.as_tensor(actions, dtype=self._action_dtype, device=self.device)
        state, rewards, terminated, truncated = self._advance(self.state, actions)
        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            # start states for every env, used where one ended: no host check of which did (no device sync)
            ended = self._ended
            keys = counter_random.successor(self.state["key"])
            state = _where(ended, {"key": keys, **self._start(keys, {})}, state)
            rewards = rewards.masked_fill(ended, 0.0)
            terminated = terminated & ~ended
            truncated = truncated & ~ended
            self._ended = terminated | truncated
        self.state = state
        return self._observe(state), rewards, terminated, truncated, {}

    def render(self) -> None:
        """Batched envs do not render."""
        return None

    def select(self, index: Tensor) -> "TorchVectorEnv":
        """A view of only the envs `index` (int64 [M]) that steps on as they would have: for a rollout that stops
        stepping finished episodes. This env is left as it was (its spaces still say num_envs; the view's do not)."""
        chosen = copy.copy(self)
        chosen.num_envs = len(index)
        chosen.state = {name: value.index_select(0, index) for name, value in self.state.items()}
        chosen._ended = self._ended.index_select(0, index)
        return chosen

    # ------------------------------------------------------------------ helpers

    def _keys(self, seed: Any) -> Tensor:
        """Each env's key for the episode being started: its seed, or its chain's next key."""
        if seed is None:
            return self._continued_keys()
        if not isinstance(seed, (int, np.integer, Tensor, np.ndarray)) and any(s is None for s in seed):
            if len(seed) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seed)}")
            given = torch.tensor([s is not None for s in seed], device=self.device)
            keys = counter_random.as_keys([0 if s is None else s for s in seed], self.num_envs, self.device)
            return torch.where(given, keys, self._continued_keys())
        return counter_random.as_keys(seed, self.num_envs, self.device)

    def _continued_keys(self) -> Tensor:
        """The successors of the current keys; keys drawn from entropy (one host call) for envs never reset."""
        if "key" in self.state:
            return counter_random.successor(self.state["key"])
        entropy = np.random.default_rng().integers(2**63, size=self.num_envs)
        return torch.as_tensor(entropy, dtype=torch.int64, device=self.device)

    def _reset_mask(self, mask: Any) -> Tensor | None:
        """The reset mask as a bool tensor on the device; None when absent (reset all)."""
        if mask is None:
            return None
        mask = torch.as_tensor(mask, device=self.device)
        if mask.shape != (self.num_envs,) or mask.dtype != torch.bool:
            raise ValueError(
                f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), "
                f"got dtype {mask.dtype} and shape {tuple(mask.shape)}"
            )
        return mask


def _where(mask: Tensor, chosen: State, other: State) -> State:
    """Entry by entry, the rows of `chosen` where `mask` [N] holds and of `other` elsewhere."""
    return {
        name: torch.where(mask.view(-1, *[1] * (value.ndim - 1)), chosen[name], value) for name, value in other.items()
    }


def select_envs(envs: Any, index: Tensor) -> Any:
    """`TorchVectorEnv.select` through the Gymnasium vector wrappers around a batched env (each wrapper copied onto
    the selected view; a wrapper applies the same function to any number of envs)."""
    if isinstance(envs, TorchVectorEnv):
        return envs.select(index)
    chosen = copy.copy(envs)
    chosen.env = select_envs(envs.env, index)
    return chosen
