"""Shared bookkeeping of the torch-batched task environments.

A batched env keeps the state of ``num_envs`` episodes in tensors on ``device`` and
steps them all at once. Start states are drawn on the host, one numpy Generator per
env, with exactly the calls of the scalar twin, so env ``i`` after ``reset(seed=s)``
starts bit-identically to the scalar env after ``reset(seed=s)``.
"""

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space


def parse_autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    """NEXT_STEP or DISABLED from the enum, its value ("NextStep") or its name."""
    if isinstance(mode, str):
        by_text = {m.value.lower(): m for m in AutoresetMode}
        by_text.update({m.name.lower(): m for m in AutoresetMode})
        mode = by_text.get(mode.lower(), mode)
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED):
        raise ValueError(f"autoreset_mode must be AutoresetMode.NEXT_STEP or AutoresetMode.DISABLED, got {mode!r}")
    return mode


class TorchVectorEnv(VectorEnv):
    """Base of the batched envs: spaces, per-env seeding, reset masks and autoreset.

    Subclasses implement four hooks: ``_draw_start`` (host side, one env, the same
    draws as the scalar twin's ``reset``), ``_load_starts`` (write drawn start states
    into the device state), ``_observe`` and ``_advance`` (one step of every env).
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
        self.np_randoms: list[np.random.Generator | None] = [None] * self.num_envs
        self._ended = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    # ------------------------------------------------------------------ hooks

    def _draw_start(self, np_random: np.random.Generator, options: dict[str, Any]) -> Any:
        """Start state of one env, drawn on the host like the scalar twin's reset."""
        raise NotImplementedError

    def _load_starts(self, index: torch.Tensor, starts: np.ndarray) -> None:
        """Put the stacked start states ``starts`` into the envs ``index`` (on device)."""
        raise NotImplementedError

    def _observe(self) -> torch.Tensor:
        """Float32 observations [num_envs, obs_dim] of the current states."""
        raise NotImplementedError

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step every env: float64 rewards, bool terminated, bool truncated."""
        raise NotImplementedError

    # ------------------------------------------------------------------ API

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Reset all envs, or those in ``options["reset_mask"]`` (bool [num_envs]).

        ``seed``: an int s seeds env i with s + i, a list gives one seed (or None) per
        env, None continues each env's own generator.
        """
        options = dict(options or {})
        mask = self._reset_mask(options.pop("reset_mask", None))
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = [None if s is None else int(s) for s in seed]
            if len(seeds) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        indices = np.flatnonzero(mask)
        for i in indices:
            if seeds[i] is not None:
                self.np_randoms[i], _ = seeding.np_random(seeds[i])
        self._restart(indices, options)
        return self._observe(), {}

    def step(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Step all envs; with NEXT_STEP, envs that ended last step are reset instead."""
        actions = torch.as_tensor(actions, dtype=torch.int64, device=self.device)
        if self.autoreset_mode is not AutoresetMode.NEXT_STEP:
            rewards, terminated, truncated = self._advance(actions)
            return self._observe(), rewards, terminated, truncated, {}
        ended = self._ended
        ended_on_host = ended.cpu().numpy()  # the one device->host copy per step
        rewards, terminated, truncated = self._advance(actions)
        if ended_on_host.any():
            self._restart(np.flatnonzero(ended_on_host), {})
            rewards = rewards.masked_fill(ended, 0.0)
            terminated = terminated & ~ended
            truncated = truncated & ~ended
        self._ended = terminated | truncated
        return self._observe(), rewards, terminated, truncated, {}

    def render(self) -> None:
        """Batched envs do not render."""
        return None

    # ------------------------------------------------------------------ helpers

    def _reset_mask(self, mask: Any) -> np.ndarray:
        """The reset mask as a host bool array; all True when absent."""
        if mask is None:
            return np.ones(self.num_envs, dtype=np.bool_)
        if isinstance(mask, torch.Tensor):
            mask = mask.detach().cpu().numpy()
        mask = np.asarray(mask)
        if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
            raise ValueError(
                f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), "
                f"got dtype {mask.dtype} and shape {mask.shape}"
            )
        return mask

    def _restart(self, indices: np.ndarray, options: dict[str, Any]) -> None:
        """Draw new start states for ``indices`` on the host and copy them to the device."""
        if len(indices) == 0:
            return
        starts = []
        for i in indices:
            if self.np_randoms[i] is None:  # like Env.np_random: seeded from entropy
                self.np_randoms[i], _ = seeding.np_random()
            starts.append(self._draw_start(self.np_randoms[i], options))
        index = torch.as_tensor(indices, dtype=torch.int64, device=self.device)
        self._load_starts(index, np.stack(starts))
        self._ended = self._ended.index_fill(0, index, False)  # not in place: step holds it
