"""The memory a run needs at its peak, estimated from the experiment and the policy's layout before anything is
allocated, so that a population, network or batch too large for this machine fails in one line instead of being
killed (or swapping) once it has started. The estimate counts 4-byte floats; the constants say what it assumes."""

from __future__ import annotations

import os

import gymnasium

from evolstm.config import ConfigError, Experiment
from evolstm.policies import PolicySpec

#: runs whose estimate exceeds this fraction of the machine's memory are refused (the rest: the OS, other processes)
MEMORY_FRACTION = 0.8
#: the interpreter, torch, EvoTorch and the tasks' modules, before any population exists
BASELINE_BYTES = 512 << 20
#: copies of each member's parameters alive at once: the population, its sampled noise, the population step's
#: per-member weight matrices and EvoTorch's working copy (REINFORCE: parameters, gradients, Adam's two moments)
PARAMETER_COPIES = 4
#: parameters x parameters matrices that cmaes (unless options.separable) and xnes keep: the covariance or its
#: factor, its eigenvectors, and working copies during an update
COVARIANCE_COPIES = 4
#: floats per hidden unit, layer and episode played at once: recurrent states, gate pre-activations and outputs
UNIT_FLOATS = 8
#: floats per hidden unit, layer and recorded step of a REINFORCE batch: activations kept for backpropagation
#: through time and their gradients
STEP_UNIT_FLOATS = 16
#: floats per recorded step besides the network's: reward, validity, return, advantage, value, log-probability...
STEP_FLOATS = 8
#: bytes per Gymnasium env of the local and ray backends, one per episode played at once (CartPole-v1 and the
#: T-maze measured about 2.5 KiB)
ENV_BYTES = 4 << 10
#: episode length assumed for the REINFORCE batch of a task without a time limit
ASSUMED_EPISODE_STEPS = 1000
FLOAT_BYTES = 4

#: what to lower, by the part of the estimate that is largest
HINTS = {
    "baseline": "this machine has too little memory for any run",
    "parameter copies": "lower trainer.popsize, policy.hidden or policy.layers",
    "covariance matrices": "use fewer parameters, algorithm snes or pgpe, or options.separable: true for cmaes",
    "episode states": "lower trainer.popsize, trainer.episodes or evaluation.final_episodes, or policy.hidden",
    "envs": "lower trainer.popsize, trainer.episodes or evaluation.final_episodes, or use backend batched",
    "REINFORCE batch": "lower trainer.episodes, task.max_episode_steps, policy.hidden or policy.layers",
}


def machine_memory() -> int:
    """Physical memory of this machine in bytes."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _episode_steps(experiment: Experiment) -> int:
    """The task's time limit: task.max_episode_steps, else the registered one, else ASSUMED_EPISODE_STEPS."""
    registered = gymnasium.registry.get(experiment.task.id.split(":", 1)[-1])
    limit = experiment.task.max_episode_steps or (registered.max_episode_steps if registered else None)
    return limit or ASSUMED_EPISODE_STEPS


def estimate_memory(experiment: Experiment, spec: PolicySpec) -> dict[str, int]:
    """Estimated peak bytes of a run, by part (see the module's constants for what each part assumes)."""
    trainer, evaluation = experiment.trainer, experiment.evaluation
    params = spec.num_params
    if trainer.kind == "es":
        members = max(trainer.options.get("popsize", trainer.popsize), trainer.options.get("popsize_max", 0))
        full_covariance = trainer.algorithm == "xnes" or (
            trainer.algorithm == "cmaes" and not trainer.options.get("separable", False)
        )
    else:
        members, full_covariance = 1, False
    episodes = max(members * trainer.episodes, evaluation.greedy_episodes, evaluation.final_episodes)
    per_episode = spec.layers * spec.hidden * UNIT_FLOATS + spec.obs_dim + spec.action_dim
    batch = 0
    if trainer.kind == "reinforce":
        per_step = spec.layers * spec.hidden * STEP_UNIT_FLOATS + spec.obs_dim + spec.action_dim + STEP_FLOATS
        batch = trainer.episodes * _episode_steps(experiment) * per_step * FLOAT_BYTES
    return {
        "baseline": BASELINE_BYTES,
        "parameter copies": members * params * PARAMETER_COPIES * FLOAT_BYTES,
        "covariance matrices": params * params * COVARIANCE_COPIES * FLOAT_BYTES if full_covariance else 0,
        "episode states": episodes * per_episode * FLOAT_BYTES,
        "envs": episodes * ENV_BYTES if evaluation.backend != "batched" else 0,
        "REINFORCE batch": batch,
    }


def _size(count: float) -> str:
    """Bytes as a short size for people (1.5 GiB)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    power = 0
    while count >= 1024 and power < len(units) - 1:
        count, power = count / 1024, power + 1
    return f"{count:.1f} {units[power]}"


def check_memory(experiment: Experiment, spec: PolicySpec, total: int | None = None) -> None:
    """ConfigError (one line) if the run's estimated peak memory exceeds MEMORY_FRACTION of this machine's memory
    (or of `total` bytes): call it once the policy's spec is known, before the evaluator or trainer exist."""
    total = machine_memory() if total is None else total
    parts = estimate_memory(experiment, spec)
    peak, limit = sum(parts.values()), MEMORY_FRACTION * total
    if peak <= limit:
        return
    largest = sorted((size, name) for name, size in parts.items() if size)[::-1]
    shown = ", ".join(f"{name} {_size(size)}" for size, name in largest)
    raise ConfigError(
        f"estimated peak memory {_size(peak)} ({shown}) exceeds the limit of {_size(limit)} "
        f"({MEMORY_FRACTION:.0%} of this machine's {_size(total)}); {HINTS[largest[0][1]]}"
    )
