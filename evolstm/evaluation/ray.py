"""Evaluate a population on Ray actors: each actor keeps its envs and policy code between generations; only
parameters (and seeds) go out, only returns, lengths and observation statistics come back.

`score` splits members into contiguous shares, one per actor; `collect` splits episodes. A member's episodes depend
only on its parameters and seeds (sampled actions on the episode's own seed; the policy steps a batch the size of the
whole collection in every worker), so results do not depend on the number of workers. A worker process that dies is restarted by Ray and its
share re-run (actor `max_restarts` / `max_task_retries`); an env that raises stops the run with an EpisodeError.
"""

from __future__ import annotations

import os
import time

import numpy as np
import ray
import torch
from ray.exceptions import RayActorError, RayTaskError
from torch import Tensor

from evolstm.config import ConfigError, Experiment, TaskConfig
from evolstm.evaluation import WorkerLostError
from evolstm.evaluation.cluster import connect
from evolstm.normalization import ObsNorm
from evolstm.policies import PolicySpec
from evolstm.rollout import EpisodeError, EpisodeResults, Trajectories
from evolstm.sampling import Sampling

#: a killed worker is replaced and its share re-run this many times before the run gives up
RETRIES = 3


@ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)
class EvaluationWorker:
    """One actor: an in-process evaluator (local or batched) for its share of the episodes."""

    def __init__(self, task: TaskConfig, spec: PolicySpec, backend: str, device: str, compile: bool) -> None:
        torch.set_num_threads(1)
        from evolstm.evaluation.vector import VectorEvaluator

        self.evaluator = VectorEvaluator(task, spec, backend, device, compile)

    def score(self, params: np.ndarray, seeds: np.ndarray, norm: ObsNorm) -> tuple[EpisodeResults, float]:
        """The share's results and the seconds spent computing them (to measure Ray's overhead)."""
        start = time.perf_counter()
        results = self.evaluator.score(torch.from_numpy(params.copy()), seeds, norm)
        return results, time.perf_counter() - start

    def collect(
        self, params: np.ndarray, seeds: np.ndarray, norm: ObsNorm, sampling: Sampling, part: tuple[int, int]
    ) -> tuple[EpisodeResults, float]:
        """Episodes part[0]..part[1]-1 of the collection, with their trajectories on the host."""
        start = time.perf_counter()
        results = self.evaluator.collect(torch.from_numpy(params.copy()), seeds, norm, sampling, part)
        host = Trajectories(*(t.cpu() for t in vars(results.trajectories).values()))
        return EpisodeResults(results.returns, results.lengths, results.obs_stats, host), time.perf_counter() - start

    def location(self) -> tuple[int, str]:
        """(process id, Ray node id) of this worker."""
        return os.getpid(), ray.get_runtime_context().get_node_id()


class RayEvaluator:
    """Splits each evaluation over `workers` actors and merges their results in member (or episode) order."""

    def __init__(self, experiment: Experiment, spec: PolicySpec) -> None:
        cfg = experiment.evaluation
        if cfg.worker_backend == "batched" and cfg.device == "cuda" and cfg.gpus_per_worker == 0:
            raise ConfigError("evaluation.gpus_per_worker: workers on cuda need a GPU share (e.g. 1 or 0.5)")
        connect(experiment.ray)
        gpus = ray.cluster_resources().get("GPU", 0)
        if cfg.gpus_per_worker > gpus:
            raise ConfigError(
                f"evaluation.gpus_per_worker: each worker asks for {cfg.gpus_per_worker} GPU(s); the cluster has {gpus}"
            )
        cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = max(1, cpus) if cfg.workers == "auto" else cfg.workers
        if workers > cpus and not (experiment.ray.address or os.environ.get("RAY_ADDRESS")):
            raise ConfigError(f"evaluation.workers: {workers} workers need {workers} CPUs; this cluster has {cpus}")
        self.spec = spec
        self.device = torch.device("cpu")
        device = cfg.device if cfg.worker_backend == "batched" else "cpu"
        options = {"num_gpus": cfg.gpus_per_worker} if cfg.gpus_per_worker else {}
        self.workers = [
            EvaluationWorker.options(**options).remote(experiment.task, spec, cfg.worker_backend, device, cfg.compile)
            for _ in range(workers)
        ]
        self.last_compute_seconds = 0.0  # slowest share of the last evaluation

    def _shares(self, count: int) -> list[tuple[int, int]]:
        """Contiguous (lo, hi) shares of `count` items, one per worker (fewer when there are fewer items)."""
        bounds = np.linspace(0, count, min(len(self.workers), count) + 1).astype(int)
        return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]

    def score(self, params: Tensor, seeds: np.ndarray, norm: ObsNorm) -> EpisodeResults:
        """Members in contiguous shares; each worker receives only its members' parameters."""
        params_np = params.detach().float().cpu().numpy()
        shares = self._shares(seeds.shape[0])
        futures = [
            worker.score.remote(ray.put(params_np[lo:hi]), seeds[lo:hi], norm)
            for worker, (lo, hi) in zip(self.workers, shares)
        ]
        parts = self._gather(futures, [(lo, 0) for lo, _ in shares])
        return EpisodeResults.joined(parts, axis=0)

    def collect(self, params: Tensor, seeds: np.ndarray, norm: ObsNorm, sampling: Sampling) -> EpisodeResults:
        """Episodes in contiguous shares; one copy of the policy in the object store for all workers."""
        shared = ray.put(params.detach().float().cpu().numpy())
        shares = self._shares(len(seeds))
        futures = [
            worker.collect.remote(shared, seeds, norm, sampling, share) for worker, share in zip(self.workers, shares)
        ]
        parts = self._gather(futures, [(0, lo) for lo, _ in shares])
        return EpisodeResults.joined(parts, axis=1)

    def _gather(self, futures: list, offsets: list[tuple[int, int]]) -> list[EpisodeResults]:
        """The shares' results in order; an env's error is re-raised counted from the whole batch's first member."""
        parts = []
        for future, (members, episodes) in zip(futures, offsets):
            try:
                parts.append(ray.get(future))
            except RayTaskError as err:
                if isinstance(err.cause, EpisodeError):
                    raise err.cause.shifted(members, episodes) from None
                raise
            except RayActorError as err:  # its process died more often than it may be restarted
                reason = " ".join(str(err).split())[:160]
                raise WorkerLostError(
                    f"a Ray worker died {RETRIES + 1} times playing members {members}.., episodes {episodes}..: {reason}"
                ) from None
        self.last_compute_seconds = max(seconds for _, seconds in parts)
        return [results for results, _ in parts]

    def close(self) -> None:
        for worker in self.workers:
            ray.kill(worker)
        self.workers = []
