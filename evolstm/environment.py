"""THE env factory: the task's env or vector env (per-env envs in lockstep, or the task's torch-batched form), with
flat float observations, the observation mask and the time limit applied in one place; and the policy spec they imply.
"""

from __future__ import annotations

from typing import Literal

import gymnasium
import numpy as np
import torch
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import FlattenObservation, TransformObservation
from gymnasium.wrappers.vector import TransformObservation as TransformVectorObservation

from evolstm.config import ConfigError, PolicyConfig, TaskConfig
from evolstm.config.schema import import_object
from evolstm.feedback import PreviousActionReward, PreviousActionRewardVector
from evolstm.lockstep import LockstepEnvs
from evolstm.policies import PolicySpec
from evolstm.tasks.batched import TorchVectorEnv

Vectorization = Literal["local", "batched"]


class EnvStartError(RuntimeError):
    """The task's env raised while being made (its own failure, not a mistake in the kwargs): exit code 1."""


def make_env(task: TaskConfig, render_mode: str | None = None) -> gymnasium.Env:
    """The task's env with a flat float Box observation, raising ConfigError for kwargs or masks that do not fit."""
    env = make_base_env(task, render_mode)
    if needs_flattening(env.observation_space):
        env = FlattenObservation(env)
    if task.observe is not None:
        space, index = kept_space(env.observation_space, task.observe)
        env = TransformObservation(env, lambda obs: obs[index], space)
    if task.previous_action or task.previous_reward:
        env = PreviousActionReward(env, task.previous_action, task.previous_reward)
    return env


def needs_flattening(space: gymnasium.Space) -> bool:
    """Whether observations of `space` reach the network through Gymnasium's flattening (all but a 1-D Box)."""
    return not isinstance(space, gymnasium.spaces.Box) or len(space.shape) != 1


def make_base_env(task: TaskConfig, render_mode: str | None = None) -> gymnasium.Env:
    """The task's env with its time limit and the task's own wrappers, before evolstm's observation wrappers
    (flattening, mask, previous action and reward): the env a user's loop steps with `evolstm.Agent`."""
    import evolstm.tasks  # noqa: F401  (registers the evolstm/ ids)

    extra = {"render_mode": render_mode} if render_mode else {}  # envs without rendering take no such kwarg
    try:
        # Gymnasium's passive checker only warns (many lines); the lockstep adapter checks what evolstm relies on
        env = gymnasium.make(
            task.id, max_episode_steps=task.max_episode_steps, disable_env_checker=True, **extra, **task.kwargs
        )
    except (TypeError, ValueError, gymnasium.error.Error) as err:
        raise ConfigError(f"task: cannot make {task.id!r} with kwargs {task.kwargs} ({_line(err)})") from None
    except Exception as err:  # the env's own code failed: say so in one line, whatever it raised
        raise EnvStartError(f"env {task.id} failed to start: {type(err).__name__}: {_line(err)}") from err
    for i, wrapper in enumerate(task.wrappers):
        try:
            env = import_object(wrapper.path)(env, **wrapper.kwargs)
        except (TypeError, ValueError, gymnasium.error.Error) as err:
            raise ConfigError(
                f"task.wrappers.{i}: cannot wrap {task.id!r} in {wrapper.path} with kwargs {wrapper.kwargs} "
                f"({_line(err)})"
            ) from None
        except Exception as err:  # the wrapper's own code failed
            raise EnvStartError(
                f"wrapper {wrapper.path} failed on {task.id}: {type(err).__name__}: {_line(err)}"
            ) from err
    return env


def make_vector_env(
    task: TaskConfig, num_envs: int, vectorization: Vectorization, device: torch.device
) -> LockstepEnvs | gymnasium.vector.VectorEnv:
    """`num_envs` envs of the task with autoreset disabled: scalar envs in lockstep (local, on the host) or the
    task's torch-batched form on `device`; observations are float32 tensors [num_envs, obs] either way."""
    if vectorization == "local":
        return LockstepEnvs([make_env(task) for _ in range(num_envs)])
    if task.wrappers:
        raise ConfigError("task.wrappers: wrappers apply to the local backend's envs; use evaluation.backend local")
    if not has_batched_form(task.id):
        raise ConfigError(
            f"evaluation.backend: batched needs a task with a torch-batched form (the evolstm/ tasks); "
            f"{task.id} has none; use backend local"
        )
    extra = {} if task.max_episode_steps is None else {"max_episode_steps": task.max_episode_steps}
    try:
        env = gymnasium.make_vec(
            task.id,
            num_envs=num_envs,
            vectorization_mode="vector_entry_point",
            device=device,
            autoreset_mode=AutoresetMode.DISABLED,
            **extra,
            **task.kwargs,
        )
    except (TypeError, ValueError, gymnasium.error.Error) as err:
        raise ConfigError(
            f"task: cannot make the batched {task.id!r} with kwargs {task.kwargs} ({_line(err)})"
        ) from None
    if task.observe is not None:
        space, index = kept_space(env.single_observation_space, task.observe)
        kept = torch.as_tensor(index, device=device)
        env = TransformVectorObservation(
            env, lambda obs: obs.index_select(1, kept), gymnasium.vector.utils.batch_space(space, num_envs), space
        )
    if task.previous_action or task.previous_reward:
        try:
            env = PreviousActionRewardVector(env, task.previous_action, task.previous_reward)
        except ValueError as err:
            raise ConfigError(f"task.previous_action: {err}") from None
    return env


def has_batched_form(env_id: str) -> bool:
    """Whether the id's vector entry point is an evolstm torch-batched env (not e.g. a numpy vector env)."""
    import evolstm.tasks  # noqa: F401  (registers the evolstm/ ids)

    entry = gymnasium.spec(env_id.split(":")[-1]).vector_entry_point
    if isinstance(entry, str):
        entry = load_env_creator(entry)
    return isinstance(entry, type) and issubclass(entry, TorchVectorEnv)


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available; an explicit cuda without one is a configuration error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("evaluation.device: cuda was asked for but torch sees no CUDA device; use cpu or auto")
    return torch.device(name)


def policy_spec(task: TaskConfig, policy: PolicyConfig) -> PolicySpec:
    """The policy spec for the task's spaces (ConfigError if the spaces are unsupported)."""
    env = make_env(task)
    try:
        return PolicySpec.for_spaces(policy.kind, policy.hidden, policy.layers, env.observation_space, env.action_space)
    except ValueError as err:
        raise ConfigError(f"task: {task.id} is not supported ({err})") from None
    finally:
        env.close()


def _line(err: BaseException) -> str:
    """An exception's message on one line (envs may raise multi-line messages)."""
    return " ".join(str(err).split())[:300]


def kept_space(space: gymnasium.Space, keep: list[int]) -> tuple[gymnasium.spaces.Box, np.ndarray]:
    """The Box of only the observation entries listed in `keep` (e.g. positions without velocities), and their index."""
    if not isinstance(space, gymnasium.spaces.Box) or not keep or max(keep) >= space.shape[0]:
        raise ConfigError(f"task.observe: entries {keep} do not fit the observation space {space}")
    index = np.asarray(keep)
    return gymnasium.spaces.Box(space.low[index], space.high[index], dtype=space.dtype), index
