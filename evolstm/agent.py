"""A trained policy as an agent for one's own Gymnasium loop: `act(obs, state) -> (action, state)` applies what the
run applied (flattening, observation mask, previous action and reward, normalizer, greedy action mapping), for one
env or a batch of envs; the recurrent state is a value passed in and returned."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.spaces.utils import flatdim, flatten, flatten_space
from gymnasium.vector.utils import batch_space, iterate
from torch import Tensor

from evolstm.config import TaskConfig
from evolstm.environment import kept_space, make_base_env, needs_flattening
from evolstm.policies import PopulationPolicy, State
from evolstm.policies.spec import select_action
from evolstm.policy_files import PolicyFile


@dataclass(frozen=True)
class AgentState:
    """What the agent carries between steps: the network's recurrent state ([layers, 1, B, hidden] each) and the
    previous action it feeds back when the run did ([B, k], one-hot for discrete actions; zeros after a reset)."""

    recurrent: State
    previous_action: Tensor
    batched: bool


class Agent:
    """A trained policy and the task it was trained on; `act` takes the observations of `make_env()`'s env (the
    task's own env and wrappers, before anything evolstm added) and returns actions for it."""

    def __init__(self, policy: PolicyFile, task: TaskConfig, name: str = "policy") -> None:
        self.name, self.task, self.spec = name, task, policy.spec
        env = make_base_env(task)
        self.observation_space, self.action_space = env.observation_space, env.action_space
        env.close()
        self._policy = PopulationPolicy(policy.spec, policy.params.unsqueeze(0))
        self._normalize = policy.norm.on("cpu")
        self._flatten = needs_flattening(self.observation_space)
        flat = flatten_space(self.observation_space) if self._flatten else self.observation_space
        self._keep = None if task.observe is None else torch.as_tensor(kept_space(flat, task.observe)[1])
        self._feed_action, self._feed_reward = task.previous_action, task.previous_reward
        self._action_size = flatdim(self.action_space) if self._feed_action else 0
        start = getattr(self.action_space, "start", 0)
        self._start = np.asarray(start) if isinstance(self.action_space, gymnasium.spaces.MultiDiscrete) else start

    def make_env(self, render_mode: str | None = None) -> gymnasium.Env:
        """A fresh env of the policy's task (id, kwargs, time limit, the task's own wrappers)."""
        return make_base_env(self.task, render_mode)

    def initial_state(self, batch: int | None = None) -> AgentState:
        """The state at the start of an episode: for one env (`batch` None) or for `batch` envs stepped together."""
        count = 1 if batch is None else batch
        recurrent = self.spec.zero_state((1, count), torch.device("cpu"))
        return AgentState(recurrent, torch.zeros(count, self._action_size), batch is not None)

    def reset(self, state: AgentState, done: Any) -> AgentState:
        """`state` with the rows of the envs whose episode ended (`done`, a [B] bool array) back at their start."""
        keep = ~torch.as_tensor(np.asarray(done, dtype=bool))
        recurrent = tuple(part * keep.view(1, 1, -1, 1) for part in state.recurrent)
        return replace(state, recurrent=recurrent, previous_action=state.previous_action * keep.view(-1, 1))

    @torch.no_grad()
    def act(self, obs: Any, state: AgentState, reward: Any = None) -> tuple[Any, AgentState]:
        """The greedy action for `obs` (one observation, or a batch of them when the state is batched) and the next
        state. A policy trained with `task.previous_reward` also needs the reward that came with `obs`."""
        if self._feed_reward and reward is None:
            raise ValueError(f"{self.name} was trained with task.previous_reward: pass act(obs, state, reward=...)")
        batch = state.previous_action.shape[0]
        x = torch.cat([self._observation(obs, state), state.previous_action], dim=1)
        if self._feed_reward:  # the reward that came with obs, as the run's wrapper appended it
            x = torch.cat([x, torch.as_tensor(np.asarray(reward, dtype=np.float32)).reshape(batch, 1)], dim=1)
        out, recurrent = self._policy.step(self._normalize(x).unsqueeze(0), state.recurrent)
        actions = select_action(self.spec, out[0]).numpy()  # [B] or [B, ...]
        env_actions = actions + self._start
        if isinstance(self.action_space, gymnasium.spaces.MultiDiscrete):
            env_actions = env_actions.astype(self.action_space.dtype)
        taken = state.previous_action
        if self._feed_action:  # one-hot for discrete spaces, as is for Box: as the run's wrapper flattened it
            taken = torch.as_tensor(np.stack([flatten(self.action_space, a) for a in env_actions]).astype(np.float32))
        next_state = AgentState(recurrent, taken, state.batched)
        if state.batched:
            return env_actions, next_state
        single = env_actions[0]
        return (int(single) if isinstance(self.action_space, gymnasium.spaces.Discrete) else single), next_state

    def _observation(self, obs: Any, state: AgentState) -> Tensor:
        """The observations as the network's float32 inputs [B, obs] (before feedback and normalization); ValueError
        naming what was expected when they do not fit the space and the state's batch."""
        batch, size = state.previous_action.shape[0], flatdim(self.observation_space)
        if not self._flatten:
            rows = np.asarray(obs, dtype=np.float32)
            expected = (batch, size) if state.batched else (size,)
            if rows.shape != expected:
                raise ValueError(
                    f"{self.name}: observations of shape {expected} expected (the state's), got {rows.shape}"
                )
            return self._kept(torch.as_tensor(rows).reshape(batch, size))
        try:  # Discrete, Tuple, Dict, n-D Box, ...: one observation of the space, or a batch as a vector env gives it
            items = list(iterate(batch_space(self.observation_space, batch), obs)) if state.batched else [obs]
            rows = np.stack([flatten(self.observation_space, item) for item in items]).astype(np.float32)
        except (TypeError, ValueError, IndexError, KeyError) as err:
            raise ValueError(f"{self.name}: the observations do not fit {self.observation_space} ({err})") from None
        if rows.shape != (batch, size):
            what = f"{len(rows)} observations" if len(rows) != batch else f"observations of {rows.shape[1]} entries"
            raise ValueError(
                f"{self.name}: {batch} observation(s) of {self.observation_space} ({size} entries flat) expected "
                f"(the state's batch), got {what}"
            )
        return self._kept(torch.as_tensor(rows))

    def _kept(self, x: Tensor) -> Tensor:
        """The entries `task.observe` keeps (all without a mask)."""
        return x if self._keep is None else x.index_select(1, self._keep)
