"""Replay one policy for some episodes and record everything: the env side through a wrapper, the network side
(inputs, head outputs, recurrent state, gate activations) through a probe on the population policy's step.

Episodes are played by evolstm's one rollout loop, so a replay sees exactly what an evaluation saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium
import numpy as np
import torch
from torch import Tensor

from evolstm.config import TaskConfig
from evolstm.environment import make_env
from evolstm.lockstep import LockstepEnvs
from evolstm.policies import PolicySpec, PopulationPolicy, State
from evolstm.policy_files import PolicyFile, PolicyFileError
from evolstm.rollout import play

#: What each array of a replay holds; N episodes, T the longest episode's steps, L layers, H units, padded with 0.
ARRAYS = {
    "seeds": "[N] reset seed of each episode",
    "returns": "[N] return of each episode",
    "lengths": "[N] steps of each episode (entries past a length are padding)",
    "observations": "[N, T+1, obs] observations from the env (after evolstm's flatten/observe wrappers), o_0..o_T",
    "inputs": "[N, T, obs] the network's inputs at step t (normalized o_t)",
    "outputs": "[N, T, A] head outputs at step t (logits for discrete actions, means for Box)",
    "actions": "[N, T] or [N, T, A] the action taken at step t",
    "rewards": "[N, T] reward of step t",
    "terminated": "[N, T] whether the episode terminated at step t",
    "truncated": "[N, T] whether the episode was truncated at step t",
    "hidden": "[N, T, L, H] hidden state h after step t (feed-forward: each layer's activation)",
    "cell": "[N, T, L, H] LSTM cell state c after step t",
    "input_gate": "[N, T, L, H] LSTM input gate sigmoid(i) at step t",
    "forget_gate": "[N, T, L, H] LSTM forget gate sigmoid(f) at step t",
    "output_gate": "[N, T, L, H] LSTM output gate sigmoid(o) at step t",
    "cell_input": "[N, T, L, H] LSTM cell input tanh(g) at step t",
    "reset_gate": "[N, T, L, H] GRU reset gate r at step t",
    "update_gate": "[N, T, L, H] GRU update gate z at step t",
    "candidate": "[N, T, L, H] GRU candidate state n at step t",
    "pre_activation": "[N, T, L, H] plain RNN pre-activation (before tanh) at step t",
}


class EpisodeRecorder(gymnasium.Wrapper):
    """Keeps the current episode's observations, actions, rewards, end flags, memory events and frames.

    An env marks a step that matters for memory with `info["event"]` (evolstm's T-maze: "cue", "decision"); the
    event belongs to the observation returned with that info.
    """

    def __init__(self, env: gymnasium.Env, frames: bool) -> None:
        super().__init__(env)
        self.keep_frames = frames
        self._clear()

    def _clear(self) -> None:
        self.observations: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.terminated: list[bool] = []
        self.truncated: list[bool] = []
        self.events: dict[int, str] = {}
        self.frames: list[np.ndarray] = []

    def _note(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        if "event" in info:
            self.events[len(self.observations)] = str(info["event"])
        self.observations.append(np.array(obs, dtype=np.float32))
        if self.keep_frames:
            self.frames.append(np.asarray(self.env.render()))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._clear()
        self._note(obs, info)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.actions.append(np.array(action))
        self.rewards.append(float(reward))
        self.terminated.append(bool(terminated))
        self.truncated.append(bool(truncated))
        self._note(obs, info)
        return obs, reward, terminated, truncated, info


class TracedPolicy(PopulationPolicy):
    """A population policy that keeps every step's inputs, head outputs, state and gate activations."""

    def __init__(self, spec: PolicySpec, params: Tensor) -> None:
        super().__init__(spec, params)
        self.steps: list[dict[str, Tensor]] = []

    def step(self, obs: Tensor, state: State, probe: list[dict[str, Tensor]] | None = None) -> tuple[Tensor, State]:
        layers: list[dict[str, Tensor]] = []
        out, state = super().step(obs, state, layers)
        record = {name: torch.stack([layer[name] for layer in layers]) for name in layers[0]}  # [L, P, B, H]
        record.update(zip(("hidden", "cell"), state))
        record.update(inputs=obs, outputs=out)
        self.steps.append(record)  # every entry is a fresh tensor of this step; nothing is updated in place later
        return out, state


@dataclass(frozen=True)
class Replay:
    """A replay's arrays (see ARRAYS), memory events per episode ({step: event}) and frames per episode."""

    arrays: dict[str, np.ndarray]
    events: list[dict[int, str]]
    frames: list[list[np.ndarray]]


def check_fits(policy: PolicyFile, env: gymnasium.Env, task: TaskConfig) -> None:
    """PolicyFileError unless the policy's sizes and action type fit the env's spaces."""
    try:
        wanted = PolicySpec.for_spaces(
            policy.spec.kind, policy.spec.hidden, policy.spec.layers, env.observation_space, env.action_space
        )
    except ValueError as err:
        raise PolicyFileError(f"task {task.id} is not supported ({err})") from None
    if wanted != policy.spec:
        raise PolicyFileError(f"the policy ({_sizes(policy.spec)}) does not fit task {task.id} ({_sizes(wanted)})")


def _sizes(spec: PolicySpec) -> str:
    """A spec's inputs and actions in words: `3 inputs, 4 discrete actions`, `3 inputs, 8 x 8 multi-discrete actions`."""
    if spec.action_nvec is not None:
        return f"{spec.obs_dim} inputs, {' x '.join(map(str, spec.action_nvec))} multi-discrete actions"
    return f"{spec.obs_dim} inputs, {spec.action_dim} {'discrete ' * spec.discrete}actions"


def replay(policy: PolicyFile, task: TaskConfig, seeds: np.ndarray, frames: bool) -> Replay:
    """Play one greedy episode per seed with `policy` on `task`, recording frames too if `frames`."""
    envs = [EpisodeRecorder(make_env(task, "rgb_array" if frames else None), frames) for _ in seeds]
    try:
        check_fits(policy, envs[0], task)
        traced = TracedPolicy(policy.spec, policy.params.unsqueeze(0))
        results = play(LockstepEnvs(envs), traced, np.asarray(seeds).reshape(1, -1), policy.norm)
    finally:
        for env in envs:
            env.close()
    lengths = results.lengths[0]
    arrays = {"seeds": np.asarray(seeds, dtype=np.int64), "returns": results.returns[0], "lengths": lengths}
    arrays.update(_env_arrays(envs, lengths))
    arrays.update(_network_arrays(traced.steps, lengths))
    return Replay(arrays, [env.events for env in envs], [env.frames for env in envs])


def _padded(sequences: list[list[np.ndarray]] | list[list[float]], length: int) -> np.ndarray:
    """Stack per-episode sequences into [N, length, ...], zero after each sequence's end."""
    first = np.asarray(sequences[0][0])
    out = np.zeros((len(sequences), length, *first.shape), dtype=first.dtype)
    for row, sequence in zip(out, sequences):
        row[: len(sequence)] = np.asarray(sequence)
    return out


def _env_arrays(envs: list[EpisodeRecorder], lengths: np.ndarray) -> dict[str, np.ndarray]:
    steps = int(lengths.max())
    return {
        "observations": _padded([env.observations for env in envs], steps + 1),
        "actions": _padded([env.actions for env in envs], steps),
        "rewards": _padded([env.rewards for env in envs], steps),
        "terminated": _padded([env.terminated for env in envs], steps),
        "truncated": _padded([env.truncated for env in envs], steps),
    }


def _network_arrays(steps: list[dict[str, Tensor]], lengths: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step records (member 0) as [N, T, ...] arrays, zeroed past each episode's end."""
    valid = np.arange(len(steps))[None, :] < lengths[:, None]  # [N, T]
    arrays = {}
    for name in steps[0]:
        stacked = torch.stack([record[name] for record in steps]).numpy()  # [T, L, 1, N, H] or [T, 1, N, X]
        if stacked.ndim == 5:
            stacked = stacked[:, :, 0].transpose(2, 0, 1, 3)  # [N, T, L, H]
        else:
            stacked = stacked[:, 0].transpose(1, 0, 2)  # [N, T, X]
        arrays[name] = np.where(valid.reshape(*valid.shape, *[1] * (stacked.ndim - 2)), stacked, 0)
    return arrays
