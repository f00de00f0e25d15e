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

Both run with ``num_actors=0`` (no Ray) and leave torch's thread count to the caller.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
from typing import Any

import torch
from evotorch.neuroevolution import GymNE, VecGymNE  # at import time: importing evotorch sets its logger to INFO
from evotorch.neuroevolution.net.vecrl import SyncVectorEnv

import evolstm.tasks  # noqa: F401  (registers the evolstm/... Gymnasium ids before EvoTorch makes envs)

__all__ = ["evotorch_throughput", "network_string"]


def network_string(hidden: int) -> str:
    """EvoTorch network string for one LSTM layer of ``hidden`` units and a linear head to the action outputs."""
    hidden = int(hidden)
    return f"LSTM(obs_length, {hidden}) >> Linear({hidden}, act_length)"


def _make_problem(task_id: str, hidden: int, episodes: int, vectorized: bool, env_kwargs: dict[str, Any] | None) -> Any:
    """EvoTorch's GymNE (or VecGymNE) problem for the task and an LSTM(hidden) policy, without Ray or normalization."""
    common: dict[str, Any] = dict(
        env_config=dict(env_kwargs or {}),
        observation_normalization=False,
        num_episodes=int(episodes),
        num_actors=0,
    )
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
) -> dict[str, float]:
    """Env steps per second of EvoTorch's GymNE (vectorized=False) or VecGymNE (True) evaluating `popsize`
    LSTM(hidden) policies for `episodes` episodes each, in this process (num_actors=0).

    One untimed warm-up evaluation (it also builds VecGymNE's vector env), then `repeats` timed evaluations of the
    same batch; the reported figures are those of the repeat with the median rate (lower median for even
    `repeats`), so ``env_steps / seconds == env_steps_per_s``. Env steps come from EvoTorch's interaction counter.
    See the module docstring for how EvoTorch's policy and stepping differ from evolstm's.

    Seeding: the batch is drawn with the problem's own generator (`problem.manual_seed(seed)`); GymNE's env is reset
    once with ``seed`` before the warm-up, and VecGymNE seeds its sub-envs from Python's `random`, which is seeded
    with ``seed`` for the call and restored afterwards.

    Returns a dict with env_steps_per_s, env_steps, seconds, episodes_done (in the reported repeat), popsize,
    episodes, hidden, vectorized (1.0/0.0), solution_length, repeats, threads (`torch.get_num_threads()`).
    """
    if popsize < 1 or episodes < 1 or repeats < 1 or hidden < 1:
        raise ValueError("hidden, popsize, episodes and repeats must all be >= 1")

    logger = logging.getLogger("evotorch")
    old_level = logger.level
    logger.setLevel(logging.WARNING)
    py_random_state = random.getstate()
    try:
        random.seed(seed)
        problem = _make_problem(task_id, hidden, episodes, vectorized, env_kwargs)
        problem.manual_seed(seed)
        batch = problem.generate_batch(int(popsize))
        if param_stdev is not None:
            values = problem.make_gaussian(num_solutions=int(popsize), center=0.0, stdev=float(param_stdev))
            batch.set_values(values)
        if not vectorized:
            problem.get_env().reset(seed=seed)

        problem.evaluate(batch)  # warm-up (untimed)
        if vectorized:
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

    rate, steps, seconds, episodes_done = runs[[r[0] for r in runs].index(statistics.median_low([r[0] for r in runs]))]
    return {
        "env_steps_per_s": float(rate),
        "env_steps": float(steps),
        "seconds": float(seconds),
        "episodes_done": float(episodes_done),
        "popsize": float(popsize),
        "episodes": float(episodes),
        "hidden": float(hidden),
        "vectorized": 1.0 if vectorized else 0.0,
        "solution_length": float(problem.solution_length),
        "repeats": float(repeats),
        "threads": float(torch.get_num_threads()),
    }
