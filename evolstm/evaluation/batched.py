"""Evaluate a whole population on the task's torch-batched form: members x episodes stepped as one tensor program.

The batched env comes from Gymnasium's `make_vec(..., vectorization_mode="vector_entry_point")` with autoreset
disabled; finished episodes keep being stepped and are masked out, so the loop has no data-dependent indexing and
no host-device copy except a check every `SYNC_EVERY` steps of whether any episode is still running.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import torch
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode
from torch import Tensor

from evolstm.config import ConfigError, TaskConfig
from evolstm.normalization import ObsNorm, ObsStats
from evolstm.policies import PolicySpec, PopulationPolicy
from evolstm.rollout import EpisodeResults, Trajectories, greedy
from evolstm.sampling import Sampling
from evolstm.tasks.batched import TorchVectorEnv

SYNC_EVERY = 16


def has_batched_form(env_id: str) -> bool:
    """Whether the id's vector entry point is an evolstm torch-batched env (not e.g. a numpy vector env)."""
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


class BatchedEvaluator:
    """Keeps one batched env (remade when the number of episodes changes) on `device`."""

    def __init__(self, task: TaskConfig, spec: PolicySpec, device: str) -> None:
        self.task = task
        self.spec = spec
        self.device = resolve_device(device)
        self._envs: dict[int, gymnasium.vector.VectorEnv] = {}  # by size: population and center batches differ
        self._keep = None if task.observe is None else torch.tensor(task.observe, device=self.device)
        if not has_batched_form(task.id):
            raise ConfigError(
                f"evaluation.backend: batched needs a task with a torch-batched form (the evolstm/ tasks); "
                f"{task.id} has none; use backend local"
            )
        self.make_vector_env(1).close()  # bad kwargs fail now, not in the first generation

    def make_vector_env(self, num_envs: int) -> gymnasium.vector.VectorEnv:
        """The task's torch-batched form with `num_envs` envs on this device, autoreset disabled."""
        extra = {} if self.task.max_episode_steps is None else {"max_episode_steps": self.task.max_episode_steps}
        try:
            return gymnasium.make_vec(
                self.task.id, num_envs=num_envs, vectorization_mode="vector_entry_point", device=self.device,
                autoreset_mode=AutoresetMode.DISABLED, **extra, **self.task.kwargs,
            )
        except (TypeError, ValueError, gymnasium.error.Error) as err:
            raise ConfigError(f"task: cannot make the batched {self.task.id!r} with kwargs {self.task.kwargs} ({err})") from None

    def _observe(self, obs: Tensor) -> Tensor:
        return obs if self._keep is None else obs.index_select(1, self._keep)

    @torch.no_grad()
    def evaluate(
        self, params: Tensor, seeds: np.ndarray, norm: ObsNorm, sampling: Sampling | None = None
    ) -> EpisodeResults:
        """Play seeds.shape[1] episodes for each of the params.shape[0] members, all at once."""
        members, episodes = seeds.shape
        count = members * episodes
        if count not in self._envs:
            self._envs[count] = self.make_vector_env(count)
        env = self._envs[count]
        policy = PopulationPolicy(self.spec, params.detach().float().to(self.device))
        act = sampling.action_fn(self.spec, self.device) if sampling else greedy(self.spec)
        normalize = norm.on(self.device)
        obs = self._observe(env.reset(seed=[int(s) for s in seeds.reshape(-1)])[0])
        alive = torch.ones(count, dtype=torch.bool, device=self.device)
        returns = torch.zeros(count, dtype=torch.float64, device=self.device)
        lengths = torch.zeros(count, dtype=torch.int64, device=self.device)
        seen_sum, seen_sq = obs.double().sum(0), obs.double().square().sum(0)
        steps: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        state = policy.initial_state(episodes)
        t = 0
        while True:
            x = normalize(obs.view(members, episodes, -1))
            out, state = policy.step(x, state)
            env_actions, taken = act(out)
            obs, reward, terminated, truncated, _ = env.step(env_actions.reshape(count, *env_actions.shape[2:]))
            obs = self._observe(obs)
            returns += reward * alive
            lengths += alive
            if sampling is not None:
                taken = taken.reshape(count, *taken.shape[2:])
                steps.append((x.reshape(count, -1), taken, (reward * alive).float(), alive))
            alive = alive & ~(terminated | truncated)
            kept = obs.double() * alive.unsqueeze(1)
            seen_sum += kept.sum(0)
            seen_sq += (kept * kept).sum(0)  # alive is 0 or 1, so kept^2 = obs^2 * alive
            t += 1
            if t % SYNC_EVERY == 0 and not bool(alive.any()):
                break
        stats = ObsStats(seen_sum.cpu().numpy(), seen_sq.cpu().numpy(), int(lengths.sum()))
        trajectories = None
        if steps:
            inputs, taken, rewards, valid = (torch.stack(part) for part in zip(*steps))
            last = int(valid.any(dim=1).nonzero().max()) + 1  # drop the trailing steps where all had ended
            trajectories = Trajectories(inputs[:last], taken[:last], rewards[:last], valid[:last])
        shape = (members, episodes)
        return EpisodeResults(returns.view(shape).cpu().numpy(), lengths.view(shape).cpu().numpy(), stats, trajectories)

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()
