"""Size limits: every size field has a documented cap checked before anything is allocated, and `check_memory`
refuses experiments whose estimated peak memory exceeds the machine's."""

from __future__ import annotations

from pathlib import Path

import pytest
from gymnasium.spaces import Box, Discrete

from evolstm import config
from evolstm.config import ConfigError, Experiment
from evolstm.config.sizes import (
    MAX_EPISODE_STEPS,
    MAX_EPISODES,
    MAX_HIDDEN,
    MAX_LAYERS,
    MAX_POPSIZE,
    MAX_THREADS,
)
from evolstm.limits import MEMORY_FRACTION, check_memory, estimate_memory
from evolstm.policies import PolicySpec
from tests.conftest import make_experiment

GIB = 1 << 30
REINFORCE = {"kind": "reinforce", "iterations": 2}
TOO_LARGE = [
    ("trainer", {"popsize": MAX_POPSIZE + 1}, f"trainer.popsize: Input should be less than or equal to {MAX_POPSIZE}"),
    ("trainer", {"popsize": 10**9}, "trainer.popsize: Input should be less than or equal to"),
    ("policy", {"hidden": MAX_HIDDEN + 1}, f"policy.hidden: Input should be less than or equal to {MAX_HIDDEN}"),
    ("policy", {"hidden": 30000}, "policy.hidden: Input should be less than or equal to"),
    ("policy", {"layers": MAX_LAYERS + 1}, f"policy.layers: Input should be less than or equal to {MAX_LAYERS}"),
    ("policy", {"layers": 10**6}, "policy.layers: Input should be less than or equal to"),
    ("threads", MAX_THREADS + 1, f"threads: Input should be less than or equal to {MAX_THREADS}"),
    ("threads", 100000, "threads: Input should be less than or equal to"),
    (
        "trainer",
        {"episodes": MAX_EPISODES + 1},
        f"trainer.episodes: Input should be less than or equal to {MAX_EPISODES}",
    ),
    ("reinforce", {"episodes": MAX_EPISODES + 1}, "trainer.episodes: Input should be less than or equal to"),
    ("evaluation", {"greedy_episodes": MAX_EPISODES + 1}, "evaluation.greedy_episodes: Input should be less than or"),
    ("evaluation", {"final_episodes": MAX_EPISODES + 1}, "evaluation.final_episodes: Input should be less than or"),
    ("task", {"max_episode_steps": MAX_EPISODE_STEPS + 1}, "task.max_episode_steps: Input should be less than or"),
]


@pytest.mark.parametrize(("section", "value", "message"), TOO_LARGE, ids=[m.split(" ")[0] for *_, m in TOO_LARGE])
def test_sizes_above_their_limit_are_refused(section: str, value: object, message: str) -> None:
    data = config.to_dict(make_experiment())
    if section == "reinforce":
        data["trainer"] = {**REINFORCE, **value}
    elif isinstance(value, dict):
        data[section] = {**data[section], **value}
    else:
        data[section] = value
    with pytest.raises(ConfigError) as err:
        config.from_dict(data)
    assert str(err.value).startswith(message), str(err.value)


def test_sizes_at_their_limit_are_accepted() -> None:
    make_experiment(trainer={"popsize": MAX_POPSIZE, "episodes": MAX_EPISODES}, threads=MAX_THREADS)
    make_experiment(policy={"hidden": MAX_HIDDEN, "layers": MAX_LAYERS}, task={"max_episode_steps": MAX_EPISODE_STEPS})


def test_limits_are_in_the_field_descriptions() -> None:
    fields = config.ESConfig.model_fields
    assert f"{MAX_POPSIZE:,}" in fields["popsize"].description
    assert f"{MAX_HIDDEN:,}" in config.PolicyConfig.model_fields["hidden"].description
    assert str(MAX_THREADS) in Experiment.model_fields["threads"].description


def _spec(experiment: Experiment, obs: int = 4, actions: int = 2) -> PolicySpec:
    policy = experiment.policy
    return PolicySpec.for_spaces(policy.kind, policy.hidden, policy.layers, Box(-1, 1, (obs,)), Discrete(actions))


READY = sorted((Path(__file__).parent.parent / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", READY, ids=lambda p: p.name)
def test_ready_experiments_fit_in_a_small_machine(path: Path) -> None:
    experiment = config.load(path)
    check_memory(experiment, _spec(experiment), total=4 * GIB)
    assert sum(estimate_memory(experiment, _spec(experiment)).values()) < GIB


BIG = {
    "population": ({"popsize": MAX_POPSIZE}, {"hidden": MAX_HIDDEN, "layers": MAX_LAYERS}, "parameter copies"),
    "episodes": ({"popsize": 100_000, "episodes": 1000}, {"hidden": 64}, "episode states"),
    "envs": ({"popsize": 100_000, "episodes": 1000}, {"hidden": 8}, "envs"),
    "covariance": ({"algorithm": "cmaes"}, {"hidden": 256}, "covariance matrices"),
    "reinforce": ({**REINFORCE, "episodes": MAX_EPISODES}, {"hidden": 1024}, "REINFORCE batch"),
}


@pytest.mark.parametrize("case", list(BIG))
def test_estimated_peaks_above_the_machine_are_refused(case: str) -> None:
    trainer, policy, largest = BIG[case]
    task = {"max_episode_steps": 100_000} if case == "reinforce" else {}
    evaluation = {"backend": "batched" if case == "episodes" else "local"}
    experiment = make_experiment(trainer=trainer, policy=policy, task=task, evaluation=evaluation)
    with pytest.raises(ConfigError) as err:
        check_memory(experiment, _spec(experiment), total=64 * GIB)
    message = str(err.value)
    assert message.startswith("estimated peak memory ") and "\n" not in message, message
    assert f"the limit of {MEMORY_FRACTION * 64:.1f} GiB ({MEMORY_FRACTION:.0%} of this machine's 64.0 GiB)" in message
    parts = estimate_memory(experiment, _spec(experiment))
    assert max(parts, key=parts.__getitem__) == largest, parts


def test_the_estimate_follows_the_searcher_and_the_machine() -> None:
    cmaes = make_experiment(trainer={"algorithm": "cmaes"}, policy={"hidden": 256})
    separable = make_experiment(trainer={"algorithm": "cmaes", "options": {"separable": True}}, policy={"hidden": 256})
    check_memory(separable, _spec(separable), total=64 * GIB)
    assert estimate_memory(cmaes, _spec(cmaes))["covariance matrices"] > 100 * GIB
    assert estimate_memory(separable, _spec(separable))["covariance matrices"] == 0
    larger = make_experiment(trainer={"options": {"popsize": 4096}})
    assert (
        estimate_memory(larger, _spec(larger))["parameter copies"]
        == 512 * estimate_memory(make_experiment(), _spec(make_experiment()))["parameter copies"]
    )
    check_memory(make_experiment(), _spec(make_experiment()))  # this machine's own memory
    with pytest.raises(ConfigError, match="of this machine's 1.0 MiB"):
        check_memory(make_experiment(), _spec(make_experiment()), total=1 << 20)
