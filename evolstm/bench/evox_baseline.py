"""EvoX (1.x, the PyTorch EvoX) evaluating a population of LSTM policies on an evolstm task, as a throughput baseline.

`evox_throughput` builds what an EvoX user would write for neuroevolution of an LSTM policy on a torch-batched env:
an `nn.Module` policy, EvoX's `ParamsAndVector` adapter between flat search vectors and batched parameter dicts, a
custom `Problem` whose `evaluate` rolls the whole population out in lockstep, EvoX's `OpenES`, and EvoX's
`StdWorkflow`. It times, in this process, (a) the problem's evaluation of one population alone and (b) one full
``workflow.step()`` (OpenES sampling + ParamsAndVector + evaluation + OpenES update). Everything but the rollout loop
is EvoX's code; this module sets it up, counts, and times.

The policy (`EvoxLSTMPolicy`) and how it relates to evolstm's ``lstm`` policy (`evolstm.policies.Policy`, one layer):

- One LSTM layer of ``hidden`` units and a linear head to the action outputs, with nn.LSTM's parameter names, shapes
  and gate order (``core.weight_ih_l0`` [4H, I], ``core.weight_hh_l0`` [4H, H], ``core.bias_ih_l0``,
  ``core.bias_hh_l0`` [4H], gates input, forget, cell, output; ``head.weight`` [A, H], ``head.bias`` [A]). So the
  parameter count is evolstm's, 4H(I+H) + 8H + HA + A, and ParamsAndVector's flat vector has evolstm's layout: an
  evolstm parameter vector loads unchanged and gives the same outputs.
- The LSTM step is written out with matmuls: `torch.func.vmap` has no batching rule for ``aten::lstm_cell`` (vmapping
  ``nn.LSTMCell`` raises "Batching rule not implemented for aten::lstm_cell"), and EvoX evaluates a population by
  vmapping one module over stacked per-member parameters: `evox.problems.neuroevolution.utils.
  get_vmap_model_state_forward` (``vmap(use_state(model))``, i.e. `torch.func.functional_call` per member), which is
  what EvoX's own `BraxProblem` and `SupervisedLearningProblem` use, and which this module uses too.
- Initialisation: nn.LSTM's and nn.Linear's defaults (uniform in +-1/sqrt(fan)), without evolstm's forget-gate bias
  of +1. The OpenES centre is this initial network (``ParamsAndVector.to_vector``, as in EvoX's examples).
- Recurrent state zero at the start of every episode (each env runs exactly one episode per evaluation); discrete
  actions are the argmax of the outputs, as evolstm's `select_action`. Only Discrete action spaces are supported.
- No observation normalization, no action noise, no fitness shaping beyond what OpenES does (EvoX's OpenES uses the
  raw fitnesses, no centred ranks).

The evaluation (`LSTMRolloutProblem.evaluate`): evolstm's torch-batched env of the task,
``gymnasium.make_vec(task_id, num_envs=popsize * episodes, vectorization_mode="vector_entry_point", device="cpu",
autoreset_mode=AutoresetMode.DISABLED)``, env ``m * episodes + e`` running member m's episode e. All envs are reset
with seeds and stepped in lockstep, one vmapped forward pass over the population per step, until every episode has
ended; an env's outputs after its episode ended are masked out of its return and out of the env-step count, so
``env_steps`` is exactly the sum of the real episode lengths. Like EvoX's `BraxProblem` (``rotate_key=True``), every
member sees the same episode seeds, which change from one evaluation to the next (evaluation k, episode e: seed
``seed + k * episodes + e``); the fitness is the mean return over the episodes (BraxProblem's default ``reduce_fn``)
and the workflow is made with ``opt_direction="max"`` (as in EvoX's Brax example), so EvoX, which minimizes, sees the
negated returns. The rollout is a Python loop around a host-side env, so it is wrapped in `torch.compiler.disable`,
as `evox.core.Problem.evaluate`'s docstring asks of "external evaluations that cannot be compiled".

EvoX's recommended settings, and where they come from:

- `OpenES` with ``learning_rate=0.01``, ``noise_stdev=0.1``, ``optimizer="adam"`` and mirrored sampling (its default;
  it needs an even ``popsize``, otherwise this module turns it off): EvoX's own neuroevolution benchmark of OpenES,
  ``benchmarks/benchmark_virtual_lora_es.py`` (``sigma = 0.1``, ``lr = 0.01``, ``optimizer="adam"``, centre
  ``ParamsAndVector(model).to_vector(...)``, ``StdWorkflow(..., solution_transform=ParamsAndVector(model))``). EvoX's
  docs give no OpenES defaults (the constructor has none for the rate and the noise; its unit test uses 0.01 and 5 on
  a box of +-10).
- Compilation: EvoX's tutorial (``docs/source/tutorial/tutorial_part5.md``: ``compiled_step =
  torch.compile(workflow.step)``; ``tutorial_part4.md``: "Compilation adds overhead and isn't always supported by all
  functions or problems. Best suited for large-scale, long-running tasks.") and its v1.1.0 release notes ("simply use
  torch.compile(workflow.step)"). With ``compile=True`` the timed workflow step is ``torch.compile(workflow.step)``
  and, as `BraxProblem` does by default (``compile_policy=True``), the vmapped policy forward is
  ``evox.core.compile``-d; the population evaluation (a) then also uses the compiled forward. The first call pays the
  compilation; it is the untimed warm-up, reported as ``warmup_seconds``.

Both (a) and (b) run on the cpu in this process and leave torch's thread count to the caller.
"""

from __future__ import annotations

import importlib.metadata
import math
import time
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
import torch
from evox.algorithms import OpenES
from evox.core import Problem
from evox.core import compile as evox_compile
from evox.problems.neuroevolution.utils import get_vmap_model_state_forward
from evox.utils import ParamsAndVector
from evox.workflows import StdWorkflow
from gymnasium.vector import AutoresetMode
from torch import Tensor, nn

import evolstm.tasks  # noqa: F401  (registers the evolstm/... Gymnasium ids)
from evolstm.bench.timing import median_run

__all__ = ["EvoxLSTMPolicy", "LSTMRolloutProblem", "evox_throughput"]

#: EvoX's own OpenES neuroevolution settings (benchmarks/benchmark_virtual_lora_es.py in the EvoX repository).
LEARNING_RATE, NOISE_STDEV, OPTIMIZER = 0.01, 0.1, "adam"


class _LSTMCore(nn.Module):
    """nn.LSTM's parameters for one layer (same names, shapes, gate order i, f, g, o and default init)."""

    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.weight_ih_l0 = nn.Parameter(torch.empty(4 * hidden, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(4 * hidden, hidden))
        self.bias_ih_l0 = nn.Parameter(torch.empty(4 * hidden))
        self.bias_hh_l0 = nn.Parameter(torch.empty(4 * hidden))
        bound = 1.0 / math.sqrt(hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        gates = nn.functional.linear(x, self.weight_ih_l0, self.bias_ih_l0)
        gates = gates + nn.functional.linear(h, self.weight_hh_l0, self.bias_hh_l0)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class EvoxLSTMPolicy(nn.Module):
    """One LSTM layer and a linear head, one step at a time: ``forward(obs, (h, c)) -> (logits, (h, c))``."""

    def __init__(self, obs_dim: int, hidden: int, action_dim: int) -> None:
        super().__init__()
        self.hidden = int(hidden)
        self.core = _LSTMCore(int(obs_dim), self.hidden)
        self.head = nn.Linear(self.hidden, int(action_dim))

    def forward(self, obs: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = self.core(obs, *state)
        return self.head(h), (h, c)


def _make_env(task_id: str, num_envs: int, env_kwargs: dict[str, Any]) -> gymnasium.vector.VectorEnv:
    """evolstm's torch-batched env of the task on the cpu, autoreset disabled (the caller masks ended episodes)."""
    return gymnasium.make_vec(
        task_id,
        num_envs=int(num_envs),
        vectorization_mode="vector_entry_point",
        device="cpu",
        autoreset_mode=AutoresetMode.DISABLED,
        **env_kwargs,
    )


class LSTMRolloutProblem(Problem):
    """EvoX problem: mean return over ``episodes`` episodes of each of ``pop_size`` policies (see module docstring).

    ``evaluate(pop_params)`` takes the batched parameter dict that `ParamsAndVector.batched_to_params` gives (as
    EvoX's `BraxProblem.evaluate` does) and returns the mean returns [pop_size]. ``env_steps`` and ``episodes_done``
    count over all evaluations so far; ``evaluations`` is the number of evaluations.
    """

    def __init__(
        self,
        task_id: str,
        policy: EvoxLSTMPolicy,
        pop_size: int,
        episodes: int,
        env_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        compile_policy: bool = False,
        device: torch.device | None = None,
    ) -> None:
        super().__init__()
        device = torch.device("cpu") if device is None else torch.device(device)
        self.pop_size, self.episodes, self.hidden, self.seed = int(pop_size), int(episodes), policy.hidden, int(seed)
        self.env = _make_env(task_id, self.pop_size * self.episodes, dict(env_kwargs or {}))
        if not isinstance(self.env.single_action_space, gymnasium.spaces.Discrete):
            raise TypeError(f"{task_id}: only Discrete action spaces are supported, got {self.env.single_action_space}")
        # As EvoX's BraxProblem: vmap(use_state(policy)) over stacked per-member parameters; in_dims for
        # (params_and_buffers, obs [P, E, obs], (h, c) [P, E, H]).
        self.vmap_init_state, self.vmap_state_forward = get_vmap_model_state_forward(
            model=policy, pop_size=self.pop_size, device=device, in_dims=(0, 0, 0)
        )
        if compile_policy:
            self.vmap_state_forward = evox_compile(self.vmap_state_forward)
        self.state_keys = list(self.vmap_init_state.keys())
        self.env_steps = 0
        self.episodes_done = 0
        self.evaluations = 0

    def evaluate(self, pop_params: dict[str, Tensor]) -> Tensor:
        """Mean return of each member over its episodes (higher is better; the workflow negates)."""
        model_state = {**self.vmap_init_state, **pop_params}
        return self._rollout([model_state[k] for k in self.state_keys])

    @torch.compiler.disable
    def _rollout(self, model_state: list[Tensor]) -> Tensor:
        params = dict(zip(self.state_keys, model_state))
        pop, episodes = self.pop_size, self.episodes
        if params[self.state_keys[0]].shape[0] != pop:
            raise ValueError(f"expected a population of {pop}, got {params[self.state_keys[0]].shape[0]}")
        first = self.seed + self.evaluations * episodes
        obs, _ = self.env.reset(seed=np.tile(np.arange(first, first + episodes), pop))
        dtype = params[self.state_keys[0]].dtype
        h = torch.zeros(pop, episodes, self.hidden, dtype=dtype)
        c = torch.zeros_like(h)
        running = torch.ones(pop * episodes, dtype=torch.bool)
        returns = torch.zeros(pop * episodes, dtype=torch.float64)
        steps = torch.zeros((), dtype=torch.int64)
        while bool(running.any()):
            _, (logits, (h, c)) = self.vmap_state_forward(params, obs.to(dtype).view(pop, episodes, -1), (h, c))
            obs, rewards, terminated, truncated, _ = self.env.step(logits.argmax(dim=-1).reshape(-1))
            steps += running.sum()
            returns += torch.where(running, rewards.to(torch.float64), 0.0)
            running &= ~(terminated | truncated)
        self.env_steps += int(steps)
        self.episodes_done += pop * episodes
        self.evaluations += 1
        return returns.view(pop, episodes).mean(dim=1).to(dtype)


def _time(call: Callable[[], Any], problem: LSTMRolloutProblem, repeats: int) -> tuple[float, int, float]:
    """``repeats`` timed calls; the median-rate one's env steps/s, env steps and seconds."""
    runs = []
    for _ in range(repeats):
        before = problem.env_steps
        start = time.perf_counter()
        call()
        seconds = time.perf_counter() - start
        steps = problem.env_steps - before
        runs.append((steps / seconds, steps, seconds))
    return median_run(runs)


def evox_throughput(
    task_id: str,
    hidden: int,
    popsize: int,
    episodes: int,
    repeats: int = 3,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    param_stdev: float | None = None,
    members: Tensor | None = None,
    compile: bool = True,
    learning_rate: float = LEARNING_RATE,
    noise_stdev: float = NOISE_STDEV,
) -> dict[str, Any]:
    """Env steps per second of EvoX (OpenES + StdWorkflow over `LSTMRolloutProblem`) for `popsize` LSTM(hidden)
    policies, `episodes` episodes each, on evolstm's torch-batched env of `task_id`, in this process.

    Two figures, each from one untimed warm-up and then `repeats` timed calls, reporting the repeat with the median
    rate (lower median for even `repeats`), so ``env_steps / seconds == env_steps_per_s``:

    - ``eval_*``: ``problem.evaluate`` of one population alone. The population is ``members`` [popsize, D] when
      given (e.g. evolstm's own benchmark population: the layouts are the same), N(0, param_stdev^2) draws when
      ``param_stdev`` is given, else an OpenES-like sample around the initial network (centre + noise_stdev * noise);
      both drawn from a generator seeded with ``seed``.
    - ``step_*``: one ``workflow.step()`` (``torch.compile(workflow.step)`` when ``compile``), OpenES sampling its own
      population around its centre.

    ``compile=True`` (the default) follows EvoX's recommendation (see the module docstring); the warm-up times
    (``eval_warmup_seconds``, ``step_warmup_seconds``) then include compilation. It works on the cpu-only torch 2.13
    (inductor needs a C++ compiler): a few seconds per call with a warm inductor cache, around 20 s the first time in
    a fresh cache; on one cpu thread it changed the timed rates by -10% to +75% against ``compile=False`` (which
    skips it) in a few noisy runs. Seeding: torch's global generator is
    seeded with ``seed`` inside the call (network init and OpenES's noise) and restored afterwards.

    Returns a dict with, for prefix ``eval_`` and ``step_``: env_steps_per_s, env_steps, seconds, warmup_seconds; and
    episodes_per_call (popsize * episodes), popsize, episodes, hidden, solution_length, repeats, threads
    (`torch.get_num_threads()`), compiled (1.0/0.0), mirrored_sampling (1.0/0.0), learning_rate, noise_stdev, and
    ``evox_version`` (the `importlib.metadata` version string; the only non-float value).
    """
    if popsize < 1 or episodes < 1 or repeats < 1 or hidden < 1:
        raise ValueError("hidden, popsize, episodes and repeats must all be >= 1")
    device = torch.device("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = _make_env(task_id, 1, dict(env_kwargs or {}))
        obs_dim = int(probe.single_observation_space.shape[0])
        action_space = probe.single_action_space
        probe.close()
        if not isinstance(action_space, gymnasium.spaces.Discrete):
            raise TypeError(f"{task_id}: only Discrete action spaces are supported, got {action_space}")
        policy = EvoxLSTMPolicy(obs_dim, hidden, int(action_space.n)).to(device)
        for p in policy.parameters():
            p.requires_grad_(False)
        adapter = ParamsAndVector(dummy_model=policy)
        center = adapter.to_vector(dict(policy.named_parameters())).detach().clone()
        problem = LSTMRolloutProblem(task_id, policy, popsize, episodes, env_kwargs, seed, compile, device)
        mirrored = popsize % 2 == 0
        algorithm = OpenES(
            pop_size=int(popsize),
            center_init=center,
            learning_rate=float(learning_rate),
            noise_stdev=float(noise_stdev),
            optimizer=OPTIMIZER,
            mirrored_sampling=mirrored,
            device=device,
        )
        workflow = StdWorkflow(
            algorithm, problem, opt_direction="max", solution_transform=ParamsAndVector(policy), device=device
        )

        # (a) the problem's evaluation of one population
        generator = torch.Generator().manual_seed(seed)
        if members is not None:
            population = members.to(device=device, dtype=center.dtype)
        elif param_stdev is not None:
            population = float(param_stdev) * torch.randn(popsize, center.numel(), generator=generator)
        else:
            population = center + float(noise_stdev) * torch.randn(popsize, center.numel(), generator=generator)
        pop_params = adapter.batched_to_params(population)
        start = time.perf_counter()
        problem.evaluate(pop_params)
        eval_warmup = time.perf_counter() - start
        eval_rate, eval_steps, eval_seconds = _time(lambda: problem.evaluate(pop_params), problem, repeats)

        # (b) one full workflow step
        step = torch.compile(workflow.step) if compile else workflow.step
        start = time.perf_counter()
        step()
        step_warmup = time.perf_counter() - start
        step_rate, step_steps, step_seconds = _time(step, problem, repeats)

    return {
        "eval_env_steps_per_s": float(eval_rate),
        "eval_env_steps": float(eval_steps),
        "eval_seconds": float(eval_seconds),
        "eval_warmup_seconds": float(eval_warmup),
        "step_env_steps_per_s": float(step_rate),
        "step_env_steps": float(step_steps),
        "step_seconds": float(step_seconds),
        "step_warmup_seconds": float(step_warmup),
        "episodes_per_call": float(popsize * episodes),
        "popsize": float(popsize),
        "episodes": float(episodes),
        "hidden": float(hidden),
        "solution_length": float(center.numel()),
        "repeats": float(repeats),
        "threads": float(torch.get_num_threads()),
        "compiled": 1.0 if compile else 0.0,
        "mirrored_sampling": 1.0 if mirrored else 0.0,
        "learning_rate": float(learning_rate),
        "noise_stdev": float(noise_stdev),
        "evox_version": importlib.metadata.version("evox"),
    }
