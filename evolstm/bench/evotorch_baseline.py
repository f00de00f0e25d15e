"""EvoTorch's own neuroevolution problems (`GymNE`, `VecGymNE`) as a throughput baseline for evolstm.

`evotorch_throughput` builds the problem EvoTorch users would write for an LSTM policy on a Gymnasium task and
times `problem.evaluate(batch)` for one population, in this process. Everything below is EvoTorch's code path; this
module only sets it up, counts, and times.

How the EvoTorch policy relates to evolstm's ``lstm`` policy (`evolstm.policies.Policy`, one layer):

- Network: ``"LSTM(obs_length, H) >> Linear(H, act_length)"`` in EvoTorch's network language, i.e.
  `evotorch.neuroevolution.net.layers.LSTM` (one layer, gates written out as unbatched mat-vec products, separate
  input and hidden biases) followed by a linear head, no activation between. Same parameter count as evolstm's
  ``nn.LSTM(obs, H) + nn.Linear(H, A)`` (4H(I+H) + 8H + HA + A); different layout and no forget-gate bias of +1.
- Recurrent state: zero at the start of every episode, as in evolstm. `GymNE` wraps the net in a `StatefulModule`
  and resets it before each episode; `VecGymNE` keeps the (h, c) state of all policies in its `Policy` wrapper (one
  functional module `vmap`-ed over the population) and zeroes the rows whose sub-environment just finished.
- Actions: Discrete spaces take the argmax of the outputs (as evolstm's `select_action`). Box spaces are clipped to
  the bounds by EvoTorch, whereas evolstm squashes with tanh into the bounds.
- Observation normalization off, no action noise, no reward shaping.
- Population: `problem.generate_batch(popsize)` draws from EvoTorch's initial bounds, uniform in (-1e-5, 1e-5), so
  every policy is nearly constant and episodes are the short ones of an untrained population. Pass ``param_stdev``
  to draw the parameters from N(0, param_stdev^2) instead (with the problem's seeded generator), for episode lengths
  closer to a population mid-search.
- Env steps are EvoTorch's own counter (`problem.interaction_count`, what `status["total_interaction_count"]`
  reports), taken before and after each timed `evaluate`.

Modes:

- ``vectorized=False``: `GymNE` steps one scalar ``gymnasium.make(task_id, **env_kwargs)`` env, one policy and one
  episode after another, a forward pass per step on a single observation.
- ``vectorized=True``: `VecGymNE` with the task id as a string. EvoTorch then goes through its own
  `make_vector_env` -> `make_gym_env`, which builds ``popsize`` scalar envs with ``gymnasium.make`` and steps them in a
  Python loop inside EvoTorch's own `vecrl.SyncVectorEnv` (eager auto-reset, ``num_episodes`` per sub-env); it never
  calls ``gymnasium.make_vec``, so a torch-batched ``vector_entry_point`` registered for the evolstm tasks is not used.
  After the warm-up the function checks that the env EvoTorch built really is that `SyncVectorEnv` and raises
  otherwise. All ``popsize`` policies run in every step until the last one finishes (finished ones are masked out of
  the step count, not out of the forward pass).
- ``vectorized=True, batched_env=True``: the same `VecGymNE` (same batched policy, same evaluation loop), but its env
  is evolstm's torch-batched env of the task, so the row separates "batched env" from "batched policy". VecGymNE
  accepts a callable as its env: it calls ``env(num_envs=popsize, **env_config)``, requires a
  `gymnasium.vector.VectorEnv`, and wraps it in its `TorchWrapper` (``force_classic_api``,
  ``discrete_to_continuous_act``: argmax of the policy outputs, cast to the env's int dtype; tensors pass through
  unconverted, float64 rewards are accepted). Its loop (`VecGymNE._evaluate_subbatch`) needs *same-step* auto-reset: it
  zeroes a policy's recurrent state when ``done`` comes back and feeds the next observation as the first one of the
  following episode, and it passes no ``num_episodes`` to a callable env (it counts episodes itself). evolstm's
  batched envs offer NEXT_STEP or DISABLED auto-reset, not SAME_STEP, so `BatchedSameStepEnv` (a small
  `gymnasium.vector.VectorWrapper`) adapts: it makes the env with ``AutoresetMode.DISABLED``, and after each batched
  step resets the sub-envs that just ended and still have episodes to run with ``reset(options={"reset_mask": ...})``,
  returning their first observation in place of the final one (as EvoTorch's `SyncVectorEnv` does); sub-envs that
  finished their ``num_episodes`` are not reset and keep being stepped (batched), masked out by VecGymNE. Its
  ``seed(s)`` mirrors `SyncVectorEnv.seed`: the next full reset gives sub-env i the i-th draw of
  ``numpy.random.RandomState(s).randint(0, 2**32, num_envs)``, later resets continue each sub-env's own generator, so
  with the same ``seed`` the first evaluation of both vectorized modes runs the same episodes (later ones drift apart:
  `SyncVectorEnv` also resets a scalar env after its last episode and discards that observation, which the adapter
  does not). VecGymNE makes one env per solution (``num_envs=popsize``), so the ``episodes`` episodes of a policy run
  one after another, not side by side. After the warm-up the function checks that the env VecGymNE stepped is this
  adapter over evolstm's `TorchVectorEnv` and that it took batched steps, and raises otherwise.

All run with ``num_actors=0`` (no Ray) and leave torch's thread count to the caller.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from typing import Any

import gymnasium
import numpy as np
import torch
from evotorch.neuroevolution import GymNE, VecGymNE  # at import time: importing evotorch sets its logger to INFO
from evotorch.neuroevolution.net.vecrl import SyncVectorEnv
from gymnasium.vector import AutoresetMode

import evolstm.tasks  # noqa: F401  (registers the evolstm/... Gymnasium ids before EvoTorch makes envs)
from evolstm.bench.timing import median_run
from evolstm.tasks.batched import TorchVectorEnv

__all__ = ["BatchedSameStepEnv", "evotorch_throughput", "network_string"]


def network_string(hidden: int) -> str:
    """EvoTorch network string for one LSTM layer of ``hidden`` units and a linear head to the action outputs."""
    hidden = int(hidden)
    return f"LSTM(obs_length, {hidden}) >> Linear({hidden}, act_length)"


class BatchedSameStepEnv(gymnasium.vector.VectorWrapper):
    """Same-step auto-reset over an evolstm torch-batched env made with ``AutoresetMode.DISABLED``, as VecGymNE's
    evaluation loop expects of a callable env; ``num_episodes`` per sub-env and ``seed(s)`` as in EvoTorch's own
    `SyncVectorEnv` (see the module docstring)."""

    def __init__(self, env: gymnasium.vector.VectorEnv, num_episodes: int):
        super().__init__(env)
        if not isinstance(env.unwrapped, TorchVectorEnv):
            raise TypeError(f"expected an evolstm TorchVectorEnv, got {type(env.unwrapped).__name__}")
        if env.unwrapped.autoreset_mode is not AutoresetMode.DISABLED:
            raise ValueError("the batched env must be made with autoreset_mode=AutoresetMode.DISABLED")
        self.num_episodes = int(num_episodes)
        self.batched_steps = 0  # calls of the batched env's step (for the check that this env was really stepped)
        self._left = torch.zeros(self.num_envs, dtype=torch.int64, device=env.unwrapped.device)
        self._seed: int | None = None

    def seed(self, seed: int | None = None) -> None:
        """Seed the next full reset like `SyncVectorEnv.seed`; None: the next reset continues each env's stream."""
        self._seed = None if seed is None else int(seed)

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env and give each ``num_episodes`` episodes to run."""
        if seed is None and self._seed is not None:
            draws = np.random.RandomState(self._seed).randint(0, 2**32, self.num_envs)
            seed = [int(s) for s in draws]
        self._seed = None
        self._left.fill_(self.num_episodes)
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """One batched step; sub-envs whose episode just ended and that have episodes left start the next one now."""
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self.batched_steps += 1
        ended = (terminated | truncated) & (self._left > 0)
        self._left -= ended.to(self._left.dtype)
        restart = ended & (self._left > 0)
        if bool(restart.any()):
            obs, _ = self.env.reset(options={"reset_mask": restart})
        return obs, rewards, terminated, truncated, info


def _make_batched_env(task_id: str, num_episodes: int, num_envs: int, **env_kwargs: Any) -> BatchedSameStepEnv:
    """The env VecGymNE calls as ``env(num_envs=..., **env_config)``: evolstm's batched env of the task on the cpu."""
    env = gymnasium.make_vec(
        task_id,
        num_envs=int(num_envs),
        vectorization_mode="vector_entry_point",
        device="cpu",
        autoreset_mode=AutoresetMode.DISABLED,
        **env_kwargs,
    )
    return BatchedSameStepEnv(env, num_episodes)


def _make_problem(
    task_id: str, hidden: int, episodes: int, vectorized: bool, batched_env: bool, env_kwargs: dict[str, Any] | None
) -> Any:
    """EvoTorch's GymNE (or VecGymNE) problem for the task and an LSTM(hidden) policy, without Ray or normalization."""
    common: dict[str, Any] = dict(
        env_config=dict(env_kwargs or {}),
        observation_normalization=False,
        num_episodes=int(episodes),
        num_actors=0,
    )
    if batched_env:
        return VecGymNE(functools.partial(_make_batched_env, task_id, int(episodes)), network_string(hidden), **common)
    cls = VecGymNE if vectorized else GymNE
    return cls(task_id, network_string(hidden), **common)


def _check_scalar_vectorization(problem: Any) -> None:
    """Raise unless VecGymNE stepped EvoTorch's own SyncVectorEnv of scalar gymnasium envs."""
    env = problem.get_env()
    inner = env.unwrapped if env is not None else None
    if not isinstance(inner, SyncVectorEnv):
        raise RuntimeError(
            f"VecGymNE built {type(inner).__name__}, not evotorch's SyncVectorEnv over scalar gymnasium envs;"
            " the baseline would not measure EvoTorch's standard vectorization"
        )


def _check_batched_env(problem: Any) -> None:
    """Raise unless VecGymNE stepped evolstm's torch-batched env (through `BatchedSameStepEnv`)."""
    env = problem.get_env()
    adapter = getattr(env, "env", None)
    inner = env.unwrapped if env is not None else None
    if (
        not isinstance(adapter, BatchedSameStepEnv)
        or not isinstance(inner, TorchVectorEnv)
        or not adapter.batched_steps
    ):
        raise RuntimeError(
            f"VecGymNE stepped {type(inner).__name__} through {type(adapter).__name__}, not evolstm's torch-batched"
            " env through BatchedSameStepEnv; the batched-env row would not measure evolstm's batched env"
        )


def evotorch_throughput(
    task_id: str,
    hidden: int,
    popsize: int,
    episodes: int,
    vectorized: bool,
    repeats: int = 3,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    param_stdev: float | None = None,
    batched_env: bool = False,
) -> dict[str, float]:
    """Env steps per second of EvoTorch's GymNE (vectorized=False) or VecGymNE (True) evaluating `popsize`
    LSTM(hidden) policies for `episodes` episodes each, in this process (num_actors=0). With ``batched_env=True``
    (needs vectorized=True and a task with a torch-batched form) VecGymNE steps evolstm's torch-batched env of the
    task instead of EvoTorch's SyncVectorEnv of scalar envs.

    One untimed warm-up evaluation (it also builds VecGymNE's vector env), then `repeats` timed evaluations of the
    same batch; the reported figures are those of the repeat with the median rate (lower median for even
    `repeats`), so ``env_steps / seconds == env_steps_per_s``. Env steps come from EvoTorch's interaction counter.
    See the module docstring for how EvoTorch's policy and stepping differ from evolstm's.

    Seeding: the batch is drawn with the problem's own generator (`problem.manual_seed(seed)`); GymNE's env is reset
    once with ``seed`` before the warm-up, and VecGymNE seeds its sub-envs from Python's `random`, which is seeded
    with ``seed`` for the call and restored afterwards.

    Returns a dict with env_steps_per_s, env_steps, seconds, episodes_done (in the reported repeat), popsize,
    episodes, hidden, vectorized (1.0/0.0), batched_env (1.0/0.0), solution_length, repeats, threads
    (`torch.get_num_threads()`).
    """
    if popsize < 1 or episodes < 1 or repeats < 1 or hidden < 1:
        raise ValueError("hidden, popsize, episodes and repeats must all be >= 1")
    if batched_env and not vectorized:
        raise ValueError("batched_env=True needs vectorized=True (GymNE steps one scalar env)")

    logger = logging.getLogger("evotorch")
    old_level = logger.level
    logger.setLevel(logging.WARNING)
    py_random_state = random.getstate()
    try:
        random.seed(seed)
        problem = _make_problem(task_id, hidden, episodes, vectorized, batched_env, env_kwargs)
        problem.manual_seed(seed)
        batch = problem.generate_batch(int(popsize))
        if param_stdev is not None:
            values = problem.make_gaussian(num_solutions=int(popsize), center=0.0, stdev=float(param_stdev))
            batch.set_values(values)
        if not vectorized:
            problem.get_env().reset(seed=seed)

        problem.evaluate(batch)  # warm-up (untimed)
        if batched_env:
            _check_batched_env(problem)
        elif vectorized:
            _check_scalar_vectorization(problem)

        runs: list[tuple[float, int, float, int]] = []
        for _ in range(int(repeats)):
            batch.forget_evals()
            steps_before, episodes_before = problem.interaction_count, problem.episode_count
            start = time.perf_counter()
            problem.evaluate(batch)
            seconds = time.perf_counter() - start
            steps = problem.interaction_count - steps_before
            runs.append((steps / seconds, steps, seconds, problem.episode_count - episodes_before))
    finally:
        random.setstate(py_random_state)
        logger.setLevel(old_level)

    rate, steps, seconds, episodes_done = median_run(runs)
    return {
        "env_steps_per_s": float(rate),
        "env_steps": float(steps),
        "seconds": float(seconds),
        "episodes_done": float(episodes_done),
        "popsize": float(popsize),
        "episodes": float(episodes),
        "hidden": float(hidden),
        "vectorized": 1.0 if vectorized else 0.0,
        "batched_env": 1.0 if batched_env else 0.0,
        "solution_length": float(problem.solution_length),
        "repeats": float(repeats),
        "threads": float(torch.get_num_threads()),
    }
