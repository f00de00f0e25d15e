"""evolstm.Agent in a user's own Gymnasium loop plays exactly the episodes the replay (and the run's final
evaluation) played: the same flattening, mask, previous action and reward, normalizer and action mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium.vector.utils import concatenate, create_empty_array

import evolstm
from evolstm.agent import Agent
from evolstm.policy_files import load_policy as load_policy_file
from evolstm.replay.recording import replay
from evolstm.seeding import final_episode_seeds
from evolstm.training import train
from tests.conftest import make_experiment

#: one case per thing the agent must apply; each a tiny ES run whose best member (a sample of spread 2: weights large
#: enough that its actions follow its inputs) is played; its returns need not be good, only equal
CASES: dict[str, dict[str, Any]] = {
    "mask-and-normalizer": {
        "task": {"id": "CartPole-v1", "kwargs": {}, "observe": [0, 2], "max_episode_steps": 60},
        "policy": {"obs_norm": True},
    },
    "previous-action-and-reward": {
        "task": {
            "id": "CartPole-v1",
            "kwargs": {},
            "max_episode_steps": 60,
            "previous_action": True,
            "previous_reward": True,
        }
    },
    "flattened-discrete-observations": {"task": {"id": "FrozenLake-v1", "kwargs": {}, "max_episode_steps": 30}},
    "multi-discrete-actions-with-start": {
        "task": {"id": "tests.multi_discrete_env:CueMulti-v0", "kwargs": {"length": 3}, "previous_action": True}
    },
    "box-actions": {"task": {"id": "tests.cue_box:CueBox-v0", "kwargs": {"length": 3}}},
    "flattened-tuple-observations": {"task": {"id": "Blackjack-v1", "kwargs": {}}},
}


@pytest.fixture(scope="module", params=list(CASES))
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A finished run of the case and what its replay recorded on the final episodes (returns, actions, lengths)."""
    experiment = make_experiment(name=request.param, trainer={"stdev_init": 2.0}, **CASES[request.param])
    run = train(experiment, tmp_path_factory.mktemp("runs"), quiet=True).path
    policy = load_policy_file(run / "policies/best.safetensors")
    seeds = final_episode_seeds(experiment.seed, experiment.evaluation.final_episodes)[0]
    return run, replay(policy, experiment.task, seeds, frames=False).arrays


def _play_one(agent: Agent, seed: int) -> tuple[float, list[Any]]:
    """The README's loop: one env, one observation at a time; the return and the actions taken."""
    env = agent.make_env()
    obs, _ = env.reset(seed=int(seed))
    state, reward, total, done, actions = agent.initial_state(), 0.0, 0.0, False, []
    while not done:
        action, state = agent.act(obs, state, reward=reward)
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        done = terminated or truncated
    env.close()
    return total, actions


def _play_batch(agent: Agent, seeds: np.ndarray) -> tuple[np.ndarray, list[list[Any]]]:
    """Several envs stepped together with one batched state, their observations batched as a Gymnasium vector env
    batches them (an ended env's row is no longer read)."""
    envs = [agent.make_env() for _ in seeds]
    latest = [env.reset(seed=int(seed))[0] for env, seed in zip(envs, seeds)]
    space = agent.observation_space
    state = agent.initial_state(len(envs))
    rewards, totals, running = np.zeros(len(envs)), np.zeros(len(envs)), np.ones(len(envs), dtype=bool)
    actions: list[list[Any]] = [[] for _ in envs]
    while running.any():
        batch = concatenate(space, latest, create_empty_array(space, len(envs)))
        chosen, state = agent.act(batch, state, reward=rewards)
        for i in np.flatnonzero(running):
            actions[i].append(chosen[i])
            latest[i], rewards[i], terminated, truncated, _ = envs[i].step(chosen[i])
            totals[i] += rewards[i]
            running[i] = not (terminated or truncated)
    return totals, actions


def _assert_same_episodes(returns: Any, actions: list[list[Any]], recorded: dict[str, np.ndarray]) -> None:
    np.testing.assert_array_equal(returns, recorded["returns"])
    for taken, length, expected in zip(actions, recorded["lengths"], recorded["actions"]):
        np.testing.assert_array_equal(np.asarray(taken).reshape(expected[:length].shape), expected[:length])


def test_an_agent_in_a_users_loop_plays_the_replays_episodes(trained: tuple[Path, dict[str, Any]]) -> None:
    run, recorded = trained
    agent = evolstm.load_policy(run, "best")
    seeds = recorded["seeds"]
    one_by_one = [_play_one(agent, seed) for seed in seeds]
    _assert_same_episodes([total for total, _ in one_by_one], [taken for _, taken in one_by_one], recorded)
    _assert_same_episodes(*_play_batch(agent, seeds), recorded)
    summary = evolstm.load_run(run).summary["final_evaluation"]["best"]
    assert summary["mean_return"] == pytest.approx(recorded["returns"].mean())


def test_reset_returns_only_the_ended_rows_to_the_start(tmp_path: Path) -> None:
    agent = evolstm.load_policy(train(make_experiment(), tmp_path, quiet=True).path)
    env = agent.make_env()
    obs = np.stack([env.reset(seed=seed)[0] for seed in (0, 1)])
    state = agent.initial_state(2)
    for _ in range(2):
        _, state = agent.act(obs, state)
    after = agent.reset(state, np.array([True, False]))
    for kept, part in zip(after.recurrent, state.recurrent):
        assert not kept[:, :, 0].any() and part[:, :, 0].any()
        assert kept[:, :, 1].equal(part[:, :, 1])


def test_a_policy_trained_on_previous_reward_asks_for_it(tmp_path: Path) -> None:
    task = {"id": "evolstm/TMaze-v0", "kwargs": {"length": 3}, "previous_reward": True}
    run = train(make_experiment(task=task), tmp_path, quiet=True).path
    agent = evolstm.load_policy(run)
    obs, _ = agent.make_env().reset(seed=0)
    with pytest.raises(ValueError, match="previous_reward: pass act"):
        agent.act(obs, agent.initial_state())


def test_observations_that_do_not_fit_the_state_are_refused(tmp_path: Path) -> None:
    agent = evolstm.load_policy(train(make_experiment(), tmp_path, quiet=True).path)
    obs, _ = agent.make_env().reset(seed=0)
    with pytest.raises(ValueError, match=r"observations of shape \(2, 3\) expected \(the state's\), got \(3,\)"):
        agent.act(obs, agent.initial_state(2))
    with pytest.raises(ValueError, match=r"of shape \(3,\) expected"):
        agent.act(np.stack([obs, obs]), agent.initial_state())
