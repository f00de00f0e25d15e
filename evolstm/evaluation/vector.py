"""Evaluate in this process on a vector env: the task's per-env Gymnasium envs in lockstep (backend local, any id)
or its torch-batched form (backend batched, members and episodes as one tensor program on the CPU or a GPU)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from evolstm.config import ConfigError, TaskConfig
from evolstm.environment import Vectorization, make_vector_env, resolve_device
from evolstm.fused import compiled_lockstep
from evolstm.normalization import ObsNorm
from evolstm.policies import PolicySpec, PopulationPolicy, State
from evolstm.rollout import EpisodeResults, VectorEnv, lockstep, play
from evolstm.sampling import Sampling


#: On the CPU a population is scored in chunks of members whose weights fit one core's cache (every loop step reads
#: every member's weights; beyond the cache each step waits on memory), but of at least MIN_CHUNK_ENVS envs, since
#: each chunk's loop pays the per-step overhead again. A GPU scores the whole population at once.
CPU_CHUNK_BYTES = 2**20
MIN_CHUNK_ENVS = 1024


def chunk_members(device: torch.device, members: int, episodes: int, num_params: int) -> int:
    """How many members one chunk of a scoring holds on `device` (all of them on a GPU)."""
    if device.type != "cpu":
        return members
    fitting = CPU_CHUNK_BYTES // (4 * num_params)
    return max(1, fitting, -(-MIN_CHUNK_ENVS // episodes))


class VectorEvaluator:
    """Keeps one vector env per batch size (population, greedy and final batches differ) between calls; with
    `compile`, scores with the compiled loop step (`evolstm.fused`)."""

    def __init__(
        self,
        task: TaskConfig,
        spec: PolicySpec,
        vectorization: Vectorization,
        device: str = "cpu",
        compile: bool = False,
    ) -> None:
        self.task = task
        self.spec = spec
        self.vectorization = vectorization
        self.device = resolve_device(device) if vectorization == "batched" else torch.device("cpu")
        if compile and vectorization != "batched":
            raise ConfigError("evaluation.compile: needs the batched backend")
        self._step = compiled_lockstep() if compile else lockstep
        # made now so that bad kwargs or masks fail before the first generation
        self._envs: dict[int, VectorEnv] = {1: make_vector_env(task, 1, vectorization, self.device)}

    def _vector_env(self, count: int) -> VectorEnv:
        if count not in self._envs:
            self._envs[count] = make_vector_env(self.task, count, self.vectorization, self.device)
        return self._envs[count]

    def score(self, params: Tensor, seeds: np.ndarray, norm: ObsNorm) -> EpisodeResults:
        """Greedy episodes: seeds.shape[1] for each of the params.shape[0] members, in chunks of members on the CPU
        (see chunk_members; each member's results are those of the whole batch)."""
        size = chunk_members(self.device, len(params), seeds.shape[1], self.spec.num_params)
        parts = [self._score(params[lo : lo + size], seeds[lo : lo + size], norm) for lo in range(0, len(params), size)]
        return parts[0] if len(parts) == 1 else EpisodeResults.joined(parts)

    def _score(self, params: Tensor, seeds: np.ndarray, norm: ObsNorm) -> EpisodeResults:
        """One chunk's greedy episodes, all members at once."""
        policy = PopulationPolicy(self.spec, params.detach().float().to(self.device))
        compact = None if self.vectorization == "local" else "exact" if self._step is lockstep else "buckets"
        return play(self._vector_env(seeds.size), policy, seeds, norm, step=self._step, compact=compact)

    def collect(
        self, params: Tensor, seeds: np.ndarray, norm: ObsNorm, sampling: Sampling, part: tuple[int, int] | None = None
    ) -> EpisodeResults:
        """Sampled episodes of one policy, recorded. With `part` = (lo, hi), only episodes lo..hi-1 are played, each
        exactly as in the whole batch (a Ray worker's share): the policy still steps a batch of len(seeds) rows."""
        lo, hi = part or (0, len(seeds))
        policy = PopulationPolicy(self.spec, params.detach().float().to(self.device).unsqueeze(0))
        mine = seeds[lo:hi]
        keys = torch.as_tensor(mine, dtype=torch.int64, device=self.device)
        played = policy if part is None else _RowsOfBatch(policy, len(seeds), lo)
        return play(
            self._vector_env(len(mine)),
            played,
            mine.reshape(1, -1),
            norm,
            sampling.action_fn(self.spec, keys),
            record=True,
        )

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()


class _RowsOfBatch:
    """Steps a one-member policy on a batch of `total` episode rows of which the caller plays rows lo.. only, so that
    each row's arithmetic is that of the whole batch (a matmul's rows can round differently at other batch sizes)."""

    def __init__(self, policy: PopulationPolicy, total: int, lo: int) -> None:
        self.policy, self.total, self.lo = policy, total, lo
        self.spec = policy.spec

    def initial_state(self, batch: int) -> State:
        return self.policy.initial_state(self.total)

    def step(self, obs: Tensor, state: State) -> tuple[Tensor, State]:
        hi = self.lo + obs.shape[1]
        rows = obs.new_zeros(obs.shape[0], self.total, obs.shape[2])
        rows[:, self.lo : hi] = obs
        out, state = self.policy.step(rows, state)
        return out[:, self.lo : hi], state
