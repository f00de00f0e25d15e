"""Tests for the evolstm Gymnasium tasks: API conformance, determinism, task semantics."""

import importlib
import re
import warnings
from collections import deque

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import evolstm.tasks
from evolstm.tasks import FIXED_START_TASKS, TASK_IDS
from evolstm.tasks.cartpole import MaskedCartPoleEnv
from evolstm.tasks.recall import RepeatPreviousEnv
from evolstm.tasks.tmaze import EAST, NORTH, SOUTH, WEST, TMazeEnv


def _rollout(env: gymnasium.Env, seed: int, episodes: int, action_seed: int) -> list[tuple]:
    """Transitions of several episodes driven by a seeded random action sequence."""
    actions = np.random.default_rng(action_seed)
    record = []
    observation, _ = env.reset(seed=seed)
    record.append(observation.tolist())
    for _ in range(episodes):
        done = False
        while not done:
            space = env.action_space
            if isinstance(space, gymnasium.spaces.Box):
                action = actions.uniform(space.low, space.high).astype(space.dtype)
            else:
                action = int(actions.integers(space.n))
            observation, reward, terminated, truncated, _ = env.step(action)
            record.append((observation.tolist(), float(reward), terminated, truncated))
            done = terminated or truncated
        observation, _ = env.reset()
        record.append(observation.tolist())
    return record


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_check_env_passes_without_warnings(task_id: str) -> None:
    env = gymnasium.make(task_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)
    env.close()


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_same_seed_and_actions_give_same_transitions(task_id: str) -> None:
    first = _rollout(gymnasium.make(task_id), seed=7, episodes=4, action_seed=3)
    second = _rollout(gymnasium.make(task_id), seed=7, episodes=4, action_seed=3)
    assert first == second


@pytest.mark.parametrize("task_id", [t for t in TASK_IDS if t not in FIXED_START_TASKS])
def test_different_seeds_give_different_starts(task_id: str) -> None:
    env = gymnasium.make(task_id)
    starts = {tuple(env.reset(seed=seed)[0].tolist()) for seed in range(20)}
    assert len(starts) > 1


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_observations_lie_in_observation_space(task_id: str) -> None:
    env = gymnasium.make(task_id)
    observation, _ = env.reset(seed=0)
    for _ in range(50):
        assert observation.dtype == np.float32 and observation in env.observation_space
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            observation, _ = env.reset()


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_render_modes_return_images_or_text(task_id: str) -> None:
    for mode in gymnasium.make(task_id).metadata["render_modes"]:
        env = gymnasium.make(task_id, render_mode=mode)
        env.reset(seed=1)
        env.step(env.action_space.sample())
        frame = env.render()
        if mode == "rgb_array":
            assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
            assert frame.ndim == 3 and frame.shape[2] == 3
            assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 2
        else:
            assert mode == "ansi" and isinstance(frame, str) and frame
        env.close()


def test_importing_tasks_twice_does_not_reregister() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(evolstm.tasks)


# ---------------------------------------------------------------- T-maze


def _tmaze_episode(env: gymnasium.Env, seed: int, turn: str) -> tuple[float, dict]:
    """Walk east to the junction, then turn to the cue's side ('cue') or the other."""
    observation, info = env.reset(seed=seed)
    goal_north = observation.tolist() == [0.0, 1.0, 1.0]
    north = goal_north if turn == "cue" else not goal_north
    total = 0.0
    for _ in range(env.unwrapped.length):
        _, reward, terminated, truncated, info = env.step(EAST)
        total += reward
        assert not (terminated or truncated)
    _, reward, terminated, _, info = env.step(NORTH if north else SOUTH)
    assert terminated
    return total + reward, info


@pytest.mark.parametrize("length", [1, 5, 10])
def test_tmaze_optimal_policy_gets_four_for_both_cues(length: int) -> None:
    env = gymnasium.make("evolstm/TMaze-v0", length=length)
    goals = set()
    for seed in range(10):
        total, info = _tmaze_episode(env, seed, "cue")
        assert total == 4.0
        goals.add(info["goal"])
        wrong, _ = _tmaze_episode(env, seed, "other")
        assert wrong == pytest.approx(-0.1)
    assert goals == {0, 1}


def test_tmaze_cue_is_visible_only_at_position_zero() -> None:
    env = TMazeEnv(length=4)
    for seed in range(6):
        observation, info = env.reset(seed=seed)
        cue = [0.0, 1.0, 1.0] if info["goal"] == 0 else [1.0, 1.0, 0.0]
        assert observation.tolist() == cue
        for position in range(1, 5):
            observation, reward, *_, info = env.step(EAST)
            assert info["position"] == position and reward == 0.0
            expected = [0.0, 1.0, 0.0] if position == 4 else [1.0, 0.0, 1.0]
            assert observation.tolist() == expected
        for _ in range(4):
            observation, *_ = env.step(WEST)
        assert observation.tolist() == cue


def test_tmaze_bumps_cost_and_keep_the_agent_in_place() -> None:
    env = TMazeEnv(length=2)
    env.reset(seed=0)
    for action in (WEST, NORTH, SOUTH):
        _, reward, terminated, _, info = env.step(action)
        assert reward == pytest.approx(-0.1) and not terminated and info["position"] == 0
    env.step(EAST)
    env.step(EAST)
    _, reward, terminated, _, info = env.step(EAST)
    assert reward == pytest.approx(-0.1) and not terminated and info["position"] == 2


@pytest.mark.parametrize("length, max_steps", [(3, None), (3, 5)])
def test_tmaze_truncates_after_max_steps(length: int, max_steps: int | None) -> None:
    env = gymnasium.make("evolstm/TMaze-v0", length=length, max_steps=max_steps)
    limit = 4 * (length + 1) if max_steps is None else max_steps
    env.reset(seed=0)
    for step in range(1, limit + 1):
        _, _, terminated, truncated, _ = env.step(WEST)
        assert not terminated and truncated == (step == limit)


def test_tmaze_memoryless_policy_averages_about_1_95() -> None:
    env = TMazeEnv(length=3)
    returns = []
    for seed in range(200):
        observation, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            at_junction = observation.tolist() == [0.0, 1.0, 0.0]
            observation, reward, terminated, truncated, _ = env.step(NORTH if at_junction else EAST)
            total += reward
            done = terminated or truncated
        returns.append(total)
    assert all(total in (4.0, pytest.approx(-0.1)) for total in returns)
    assert np.mean(returns) == pytest.approx(1.95, abs=0.4)


@pytest.mark.parametrize("kwargs", [{"length": 0}, {"length": 2.5}, {"max_steps": 0}, {"render_mode": "human"}])
def test_tmaze_rejects_invalid_kwargs(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TMazeEnv(**kwargs)


# ---------------------------------------------------------------- MaskedCartPole


def _start_like(full: gymnasium.Env, masked: gymnasium.Env, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Reset both; CartPole-v1 then starts from the masked env's start state (drawn by evolstm's generator)."""
    masked_obs, _ = masked.reset(seed=seed)
    full.reset(seed=seed)
    full.unwrapped.state = masked.unwrapped.state.copy()
    return masked_obs, np.array(full.unwrapped.state, dtype=np.float32)


def test_masked_cartpole_observes_cartpole_positions() -> None:
    masked = gymnasium.make("evolstm/MaskedCartPole-v0")
    full = gymnasium.make("CartPole-v1")
    actions = np.random.default_rng(0).integers(2, size=200)
    masked_obs, full_obs = _start_like(full, masked, seed=5)
    assert masked_obs.shape == (2,)
    for action in actions:
        np.testing.assert_array_equal(masked_obs, full_obs[[0, 2]])
        masked_obs, *masked_rest = masked.step(int(action))
        full_obs, *full_rest = full.step(int(action))
        assert masked_rest[:3] == full_rest[:3]  # reward, terminated, truncated
        if full_rest[1]:
            masked_obs, full_obs = _start_like(full, masked)


def test_masked_cartpole_starts_uniformly_inside_cartpoles_bounds() -> None:
    """Start states come from evolstm's generator, with CartPole's distribution: uniform in (-0.05, 0.05)."""
    env = gymnasium.make("evolstm/MaskedCartPole-v0")
    starts = np.array([(env.reset(seed=seed), env.unwrapped.state)[1] for seed in range(2000)])
    assert np.abs(starts).max() < 0.05 and np.abs(starts.mean(0)).max() < 0.003
    np.testing.assert_allclose(starts.std(0), 0.1 / np.sqrt(12), rtol=0.05)


def test_masked_cartpole_truncates_at_500_steps() -> None:
    env = gymnasium.make("evolstm/MaskedCartPole-v0")
    env.reset(seed=0)
    env.unwrapped.theta_threshold_radians = np.inf  # never fall, so only the limit ends it
    env.unwrapped.x_threshold = np.inf
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(steps % 2)
        assert not terminated
        steps += 1
    assert steps == 500
    assert gymnasium.spec("evolstm/MaskedCartPole-v0").reward_threshold == 475.0


def test_masked_cartpole_rejects_unsupported_render_mode() -> None:
    with pytest.raises(ValueError):
        MaskedCartPoleEnv(render_mode="human")


# ---------------------------------------------------------------- RepeatPrevious


@pytest.mark.parametrize("symbols, lag, length", [(4, 2, 16), (2, 1, 2), (7, 5, 9)])
def test_repeat_previous_perfect_policy_gets_one(symbols: int, lag: int, length: int) -> None:
    env = gymnasium.make("evolstm/RepeatPrevious-v0", symbols=symbols, lag=lag, length=length)
    for seed in range(5):
        observation, _ = env.reset(seed=seed)
        memory: deque[int] = deque(maxlen=lag + 1)
        total, steps, terminated = 0.0, 0, False
        while not terminated:
            memory.append(int(np.argmax(observation)))
            action = memory[0] if len(memory) == lag + 1 else 0
            observation, reward, terminated, truncated, _ = env.step(action)
            total += reward
            steps += 1
            assert not truncated
        assert steps == length and total == pytest.approx(1.0)
        assert observation.tolist() == [0.0] * symbols


@pytest.mark.parametrize("symbols", [2, 4])
def test_repeat_previous_constant_action_gets_chance(symbols: int) -> None:
    env = RepeatPreviousEnv(symbols=symbols)
    returns = []
    for seed in range(200):
        env.reset(seed=seed)
        total, terminated = 0.0, False
        while not terminated:
            _, reward, terminated, _, _ = env.step(0)
            total += reward
        returns.append(total)
    assert np.mean(returns) == pytest.approx(1 / symbols, abs=0.03)


@pytest.mark.parametrize(
    "kwargs",
    [{"symbols": 1}, {"lag": 0}, {"lag": 3, "length": 3}, {"render_mode": "human"}],
)
def test_repeat_previous_rejects_invalid_kwargs(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RepeatPreviousEnv(**kwargs)


# ---------------------------------------------------------------- size limits


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (TMazeEnv, {"length": 10_000_000}, "length must be an int in"),
        (TMazeEnv, {"max_steps": 10**12}, "max_steps must be None or an int in"),
        (RepeatPreviousEnv, {"length": 10_000_000}, "length must be an int > lag (2) and <= 100000"),
        (RepeatPreviousEnv, {"symbols": 10**9}, "symbols must be an int in"),
        (RepeatPreviousEnv, {"lag": 200_000, "length": 200_001}, "and <= 100000"),
    ],
)
def test_task_sizes_have_documented_upper_limits(make: type, kwargs: dict, message: str) -> None:
    """A huge size (e.g. from a policy file's metadata) is refused at once instead of running until killed."""
    with pytest.raises(ValueError, match=re.escape(message)):
        make(**kwargs)


@pytest.mark.parametrize(
    ("make", "kwargs"),
    [
        (TMazeEnv, {"length": 10_000, "max_steps": 100_000}),
        (RepeatPreviousEnv, {"symbols": 1_000, "lag": 99_999, "length": 100_000}),
    ],
)
def test_task_sizes_at_their_limits_are_allowed(make: type, kwargs: dict) -> None:
    make(**kwargs).reset(seed=0)
