"""Build the Gymnasium env an experiment names: make, flatten non-Box observations, keep chosen observation entries."""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium.wrappers import FlattenObservation, TransformObservation

from evolstm.config import ConfigError, TaskConfig


def make_env(task: TaskConfig, render_mode: str | None = None) -> gymnasium.Env:
    """The task's env with a flat float Box observation, raising ConfigError for kwargs or masks that do not fit."""
    import evolstm.tasks  # noqa: F401  (registers the evolstm/ ids)

    extra = {"render_mode": render_mode} if render_mode else {}  # envs without rendering take no such kwarg
    try:
        env = gymnasium.make(task.id, max_episode_steps=task.max_episode_steps, **extra, **task.kwargs)
    except (TypeError, ValueError, gymnasium.error.Error) as err:
        raise ConfigError(f"task: cannot make {task.id!r} with kwargs {task.kwargs} ({err})") from None
    if not isinstance(env.observation_space, gymnasium.spaces.Box) or len(env.observation_space.shape) != 1:
        env = FlattenObservation(env)
    if task.observe is not None:
        env = _keep_entries(env, task.observe)
    return env


def _keep_entries(env: gymnasium.Env, keep: list[int]) -> gymnasium.Env:
    """Show the policy only the observation entries listed in `keep` (e.g. positions without velocities)."""
    space = env.observation_space
    if not isinstance(space, gymnasium.spaces.Box) or max(keep) >= space.shape[0] or not keep:
        raise ConfigError(f"task.observe: entries {keep} do not fit the observation space {space}")
    index = np.asarray(keep)
    kept = gymnasium.spaces.Box(space.low[index], space.high[index], dtype=space.dtype)
    return TransformObservation(env, lambda obs: obs[index], kept)
