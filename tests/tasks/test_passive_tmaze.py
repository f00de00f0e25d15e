"""The passive T-maze's rules (Ni et al.'s TMazeClassicPassive with penalty -1/L), one test each."""

import gymnasium
import numpy as np
import pytest
import torch

import evolstm.tasks  # noqa: F401  (registers the tasks)
from evolstm.tasks.passive_tmaze import DOWN, LEFT, RIGHT, UP, PassiveTMazeEnv, PassiveTMazeVectorEnv

ID = "evolstm/PassiveTMaze-v0"


def _play(env: PassiveTMazeEnv, actions: list[int]) -> tuple[list[float], list[tuple]]:
    """Rewards and (observation, terminated, truncated, info) of each step."""
    rewards, steps = [], []
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        steps.append((observation.tolist(), terminated, truncated, info))
    return rewards, steps


def _goal_seeds(env: PassiveTMazeEnv) -> dict[int, int]:
    """A seed per goal side (+1 up, -1 down)."""
    seeds: dict[int, int] = {}
    for seed in range(50):
        seeds.setdefault(env.reset(seed=seed)[1]["goal"], seed)
    assert set(seeds) == {1, -1}
    return seeds


@pytest.mark.parametrize("length", [1, 3, 10])
def test_optimal_actions_return_one_and_the_wrong_turn_zero_for_both_goals(length: int) -> None:
    env = gymnasium.make(ID, length=length)
    for goal, seed in _goal_seeds(env.unwrapped).items():
        observation, info = env.reset(seed=seed)
        assert observation.tolist() == [0.0, goal] and info["event"] == "cue"
        turn = UP if goal == 1 else DOWN
        rewards, steps = _play(env, [RIGHT] * length + [turn])
        assert sum(rewards) == 1.0 and rewards[:-1] == [0.0] * length and steps[-1][3]["position"] == (length, goal)
        assert steps[-2][3]["event"] == "decision" and all("event" not in s[3] for s in steps[:-2] + steps[-1:])
        env.reset(seed=seed)
        rewards, _ = _play(env, [RIGHT] * length + [DOWN if turn == UP else UP])
        assert sum(rewards) == 0.0


@pytest.mark.parametrize("length", [1, 3, 10])
def test_standing_still_pays_the_pace_penalty_every_step_but_the_last(length: int) -> None:
    env = PassiveTMazeEnv(length=length)
    env.reset(seed=0)
    rewards, steps = _play(env, [LEFT] * (length + 1))
    assert rewards[:-1] == [-1.0 / length] * length and rewards[-1] == 0.0
    assert sum(rewards) == pytest.approx(-1.0)
    assert all(info["position"] == (0, 0) for *_, info in steps)


def test_the_pace_penalty_is_due_only_while_behind() -> None:
    env = PassiveTMazeEnv(length=4)
    env.reset(seed=0)
    rewards, _ = _play(env, [RIGHT, RIGHT, LEFT, RIGHT, RIGHT])  # x = 1, 2, 1, 2, 3 after t = 1 .. 5
    assert rewards[:4] == [0.0, 0.0, -0.25, -0.25] and rewards[4] == 0.0


def test_the_cue_shows_only_in_the_first_observation() -> None:
    env = PassiveTMazeEnv(length=4)
    for goal, seed in _goal_seeds(env).items():
        observation, _ = env.reset(seed=seed)
        assert observation.tolist() == [0.0, goal]
        _, steps = _play(env, [RIGHT, LEFT, LEFT, RIGHT])  # x = 1, 0, 0, 1
        assert [s[0] for s in steps] == [[0.0, 0.0]] * 4
        assert [s[3]["position"] for s in steps] == [(1, 0), (0, 0), (0, 0), (1, 0)]
        assert all("event" not in s[3] for s in steps)


@pytest.mark.parametrize("length", [1, 3, 10])
def test_every_episode_lasts_length_plus_one_steps_and_terminates(length: int) -> None:
    env = PassiveTMazeEnv(length=length)
    actions = np.random.default_rng(length)
    for seed in range(20):
        env.reset(seed=seed)
        _, steps = _play(env, [int(a) for a in actions.integers(4, size=length + 1)])
        assert [(terminated, truncated) for _, terminated, truncated, _ in steps] == [(False, False)] * length + [
            (True, False)
        ]


def test_junction_and_goal_cells_show_one_and_y() -> None:
    env = PassiveTMazeEnv(length=2)
    env.reset(seed=0)
    _, steps = _play(env, [RIGHT, RIGHT, UP])
    assert [s[0] for s in steps] == [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]
    env.reset(seed=0)
    _, steps = _play(env, [RIGHT, RIGHT, DOWN])
    assert steps[-1][0] == [1.0, -1.0] and steps[-1][3]["position"] == (2, -1)
    env = PassiveTMazeEnv(length=1)
    env.reset(seed=0)
    _, steps = _play(env, [RIGHT, RIGHT])  # right at the junction: stays there
    assert steps[-1][0] == [1.0, 0.0] and steps[-1][3]["position"] == (1, 0)


def test_a_goal_cell_leads_only_back_to_the_junction() -> None:
    """A goal cell is reached only by the final step, so the agent is put there (at t = 1, 5 steps left) by hand."""
    moves = [(UP, (10, 1)), (RIGHT, (10, 1)), (LEFT, (10, 1)), (DOWN, (10, 0)), (DOWN, (10, -1))]
    env = PassiveTMazeEnv(length=10)
    env.reset(seed=0)
    env.x, env.y, env.steps = 10, 1, 1
    vec = PassiveTMazeVectorEnv(1, length=10)
    vec.reset(seed=0)
    vec.state = {**vec.state, "x": torch.tensor([10]), "y": torch.tensor([1]), "steps": torch.tensor([1])}
    for action, position in moves:
        observation, *_, info = env.step(action)
        assert info["position"] == position and observation.tolist() == [1.0, position[1]], action
        assert vec.step(torch.tensor([action]))[0].tolist() == [[1.0, position[1]]]
        assert (vec.state["x"].item(), vec.state["y"].item()) == position


def test_moving_up_or_down_in_the_corridor_stays_in_place() -> None:
    env = PassiveTMazeEnv(length=4)
    env.reset(seed=0)
    _, steps = _play(env, [UP, DOWN, RIGHT, UP, DOWN])
    assert [s[3]["position"] for s in steps] == [(0, 0), (0, 0), (1, 0), (1, 0), (1, 0)]
    assert [s[0] for s in steps] == [[0.0, 0.0]] * 5


def test_memoryless_policy_gets_half_in_expectation() -> None:
    env = PassiveTMazeEnv(length=3)
    returns = []
    for seed in range(400):
        env.reset(seed=seed)
        rewards, _ = _play(env, [RIGHT] * 3 + [UP])
        returns.append(sum(rewards))
    assert set(returns) == {0.0, 1.0} and np.mean(returns) == pytest.approx(0.5, abs=0.08)


def test_batched_form_follows_the_same_rules() -> None:
    """Optimal, wrong, still and wandering actions on both goals: the batched form equals the scalar one."""
    length, seeds = 3, list(range(8))
    plans = [[RIGHT] * 3 + [UP], [RIGHT] * 3 + [DOWN], [LEFT] * 4, [RIGHT, LEFT, UP, RIGHT]] * 2
    vec = PassiveTMazeVectorEnv(8, length=length, autoreset_mode="Disabled")
    observations, _ = vec.reset(seed=seeds)
    scalars = [PassiveTMazeEnv(length=length) for _ in seeds]
    expected = [env.reset(seed=seed)[0] for env, seed in zip(scalars, seeds)]
    assert torch.equal(observations, torch.from_numpy(np.stack(expected)))
    for t in range(length + 1):
        observations, rewards, terminated, truncated, _ = vec.step(torch.tensor([plan[t] for plan in plans]))
        for i, env in enumerate(scalars):
            observation, reward, scalar_terminated, _, _ = env.step(plans[i][t])
            assert torch.equal(observations[i], torch.from_numpy(observation))
            assert rewards[i].item() == reward and terminated[i].item() == scalar_terminated
        assert not truncated.any()
    assert terminated.all()


@pytest.mark.parametrize("kwargs", [{"length": 0}, {"length": 2.5}, {"length": 10_001}, {"render_mode": "human"}])
def test_invalid_kwargs_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PassiveTMazeEnv(**kwargs)
