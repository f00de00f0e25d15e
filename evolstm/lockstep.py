"""Per-env Gymnasium envs behind the batched env's interface, so that one rollout loop drives both.

Tensors in and tensors out, autoreset disabled: an episode that has ended is not stepped again until the next reset
(its reward is 0 and its observation stays as it was), so every episode ends exactly at its own termination or
truncation, as in a scalar Gymnasium loop. Whatever an env does wrong (raises, returns an observation of the wrong
shape, a reward that is not a number) becomes an EnvStepError naming the env; Discrete and MultiDiscrete actions are
offset by the space's `start` (per dimension for MultiDiscrete), so the policy's action indices 0..n-1 land inside the
space; a MultiDiscrete env gets each action as the space's int array [D].
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from torch import Tensor


class EnvStepError(RuntimeError):
    """Env `index` of a lockstep batch raised; the rollout loop names the member and episode it belonged to."""

    def __init__(self, index: int, env_id: str, cause: str) -> None:
        super().__init__(f"env {env_id} (index {index}) raised: {cause}")
        self.index, self.env_id, self.cause = index, env_id, cause


class LockstepEnvs:
    """`num_envs` scalar envs stepped together on the host; observations float32 [N, obs], rewards float64 [N]."""

    def __init__(self, envs: list[gymnasium.Env]) -> None:
        self.envs = envs
        self.num_envs = len(envs)
        self.device = torch.device("cpu")
        self.single_observation_space = envs[0].observation_space
        self.single_action_space = envs[0].action_space
        space = self.single_action_space
        self._action_start: int | np.ndarray = 0
        self._action_dtype: np.dtype | None = None
        if isinstance(space, gymnasium.spaces.Discrete):
            self._action_start = int(space.start)
        elif isinstance(space, gymnasium.spaces.MultiDiscrete):
            self._action_start, self._action_dtype = np.asarray(space.start), space.dtype
        self._ended = np.zeros(self.num_envs, dtype=bool)
        self._obs = np.zeros((self.num_envs, *self.single_observation_space.shape), dtype=np.float32)

    def reset(self, *, seed: np.ndarray | list[int]) -> tuple[Tensor, dict[str, Any]]:
        """Reset env i with seed[i]."""
        if len(seed) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds, got {len(seed)}")
        for i, (env, env_seed) in enumerate(zip(self.envs, seed)):
            self._obs[i] = self._observation(i, self._call(i, env.reset, seed=int(env_seed))[0])
        self._ended[:] = False
        return torch.from_numpy(self._obs.copy()), {}

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]:
        """Step every env whose episode is still running with its row of `actions`."""
        actions_np = actions.cpu().numpy() + self._action_start
        if self._action_dtype is not None:
            actions_np = actions_np.astype(self._action_dtype)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i in np.flatnonzero(~self._ended):
            obs, reward, ended, cut, _ = self._call(i, self.envs[i].step, actions_np[i])
            if not isinstance(ended, (bool, np.bool_)) or not isinstance(cut, (bool, np.bool_)):
                raise self._error(i, f"terminated and truncated must be booleans, got {ended!r:.30} and {cut!r:.30}")
            rewards[i], terminated[i], truncated[i] = self._reward(i, reward), ended, cut
            if terminated[i] or truncated[i]:
                self._ended[i] = True
            else:
                self._obs[i] = self._observation(i, obs)
        return (
            torch.from_numpy(self._obs.copy()),
            torch.from_numpy(rewards),
            torch.from_numpy(terminated),
            torch.from_numpy(truncated),
            {},
        )

    def _call(self, index: int, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call an env's method, turning its own failure into an EnvStepError that says which env it was."""
        try:
            result = method(*args, **kwargs)
        except Exception as err:  # an env's own failure, whatever it is: the run names it and keeps its results
            raise self._error(index, f"{type(err).__name__}: {err}") from err
        if not isinstance(result, tuple) or len(result) != (2 if method.__name__ == "reset" else 5):
            raise self._error(index, f"{method.__name__} returned {type(result).__name__}, not Gymnasium's tuple")
        return result

    def _observation(self, index: int, obs: Any) -> np.ndarray:
        """The observation as the space's float array, or an EnvStepError saying how it is not one."""
        shape = self._obs.shape[1:]
        try:
            array = np.asarray(obs, dtype=np.float32)
        except (TypeError, ValueError):
            raise self._error(index, f"observation {obs!r:.60} is not numeric") from None
        if array.shape != shape:
            raise self._error(index, f"observation of shape {array.shape}, but the space's shape is {shape}")
        return array

    def _reward(self, index: int, reward: Any) -> float:
        """The reward as a float, or an EnvStepError: Gymnasium's rewards are single numbers."""
        if isinstance(reward, (bool, np.bool_)) or not isinstance(reward, (int, float, np.integer, np.floating)):
            raise self._error(index, f"reward {reward!r:.60} is not a number")
        return float(reward)

    def _error(self, index: int, cause: str) -> EnvStepError:
        env = self.envs[index]
        return EnvStepError(index, env.spec.id if env.spec else type(env.unwrapped).__name__, " ".join(cause.split()))

    def close(self) -> None:
        for env in self.envs:
            env.close()
