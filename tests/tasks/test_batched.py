"""Tests for the torch-batched tasks: each must match its scalar twin step for step."""

from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

import evolstm.tasks  # noqa: F401  (registers the tasks)
from evolstm.tasks import FIXED_START_TASKS, TASK_IDS
from evolstm.tasks.batched import TorchVectorEnv

NUM_ENVS = 16
SEEDS = [1000 + 37 * i for i in range(NUM_ENVS)]

# Per task: kwargs for both forms and action probabilities (None = uniform). T-maze
# mostly walks east so that episodes reach the junction.
ROLLOUT: dict[str, dict[str, Any]] = {
    "evolstm/TMaze-v0": {"kwargs": {"length": 4}, "probs": [0.15, 0.55, 0.15, 0.15]},
    "evolstm/PassiveTMaze-v0": {"kwargs": {"length": 3}, "probs": [0.55, 0.15, 0.15, 0.15]},
}
# Per task: constructor kwargs that the scalar and the batched form must both reject.
INVALID_KWARGS: dict[str, list[dict[str, Any]]] = {
    "evolstm/TMaze-v0": [{"length": 0}, {"length": 2.5}, {"max_steps": 0}],
    "evolstm/MaskedCartPole-v0": [{"max_episode_steps": 0}],
    "evolstm/RepeatPrevious-v0": [{"symbols": 1}, {"lag": 0}, {"lag": 3, "length": 3}],
    "evolstm/DoublePoleNoVel-v0": [
        {"poles": 3},
        {"fitness": "steps"},
        {"max_steps": 0},
        {"cart_friction": -1.0},
        {"fitness": "damping", "max_steps": 500},
    ],
    "evolstm/SinglePoleNoVel-v0": [{"max_steps": 2.5}],
    "evolstm/PassiveTMaze-v0": [{"length": 0}, {"length": 2.5}, {"length": 10_001}],
}


def _make_vec(task_id: str, num_envs: int = NUM_ENVS, **kwargs: Any) -> TorchVectorEnv:
    env = gymnasium.make_vec(task_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(env, TorchVectorEnv)
    return env


class Twins:
    """The batched env next to one scalar env per batch entry, driven by one policy."""

    def __init__(self, task_id: str, autoreset_mode: AutoresetMode, **kwargs: Any):
        rollout = ROLLOUT.get(task_id, {})
        kwargs = {**rollout.get("kwargs", {}), **kwargs}
        self.vec = _make_vec(task_id, autoreset_mode=autoreset_mode, **kwargs)
        self.scalars = [gymnasium.make(task_id, **kwargs) for _ in range(NUM_ENVS)]
        self.probs = rollout.get("probs")
        self.actions = np.random.default_rng(0)
        self.ended = np.zeros(NUM_ENVS, dtype=bool)
        self.terminations = self.truncations = 0

    def reset(self, seeds: list[int]) -> None:
        observations, _ = self.vec.reset(seed=seeds)
        for i, (env, seed) in enumerate(zip(self.scalars, seeds)):
            assert_same_observation(observations[i], env.reset(seed=seed)[0])
        self.ended[:] = False

    def sample_actions(self) -> np.ndarray:
        space = self.vec.single_action_space
        if isinstance(space, gymnasium.spaces.Box):
            return self.actions.uniform(space.low, space.high, (NUM_ENVS, *space.shape)).astype(space.dtype)
        return self.actions.choice(int(space.n), size=NUM_ENVS, p=self.probs)

    def step(self) -> tuple[torch.Tensor, ...]:
        actions = self.sample_actions()
        result = self.vec.step(torch.as_tensor(actions, device=self.vec.device))
        observations, rewards, terminated, truncated, info = result
        assert observations.dtype == torch.float32 and rewards.dtype == torch.float64
        assert terminated.dtype == truncated.dtype == torch.bool and info == {}
        assert observations.shape == (NUM_ENVS, *self.vec.single_observation_space.shape)
        return actions, observations, rewards, terminated, truncated

    def check_scalar_step(self, i: int, action: int | np.ndarray, batched: tuple) -> None:
        """Step scalar twin ``i`` and compare it with entry ``i`` of the batched step."""
        observation, reward, terminated, truncated, _ = self.scalars[i].step(action)
        assert_same_observation(batched[0][i], observation)
        assert batched[1][i].item() == reward and isinstance(reward, float)
        assert (batched[2][i].item(), batched[3][i].item()) == (terminated, truncated)
        self.terminations += terminated
        self.truncations += truncated
        self.ended[i] = terminated or truncated


def _one(actions: np.ndarray, i: int) -> int | np.ndarray:
    """Env i's action as its scalar twin takes it: an int, or a Box action's row."""
    return int(actions[i]) if actions.ndim == 1 else actions[i]


def assert_same_observation(batched: torch.Tensor, scalar: np.ndarray) -> None:
    assert scalar.dtype == np.float32
    assert torch.equal(batched.cpu(), torch.from_numpy(scalar)), (batched, scalar)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_make_vec_returns_batched_env_with_scalar_spaces(task_id: str) -> None:
    env = _make_vec(task_id, num_envs=4)
    scalar = gymnasium.make(task_id)
    assert env.num_envs == 4 and env.device == torch.device("cpu")
    assert env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert env.single_observation_space == scalar.observation_space
    assert env.single_action_space == scalar.action_space
    assert env.observation_space == batch_space(scalar.observation_space, 4)
    assert env.action_space == batch_space(scalar.action_space, 4)
    observations, info = env.reset(seed=0)
    assert observations.shape == (4, *scalar.observation_space.shape) and info == {}
    assert all(o.numpy() in scalar.observation_space for o in observations)
    env.close()


def _run_disabled(task_id: str, steps: int, **kwargs: Any) -> Twins:
    """DISABLED mode; ended envs are reset through reset_mask, their twins by reset()."""
    twins = Twins(task_id, AutoresetMode.DISABLED, **kwargs)
    twins.reset(SEEDS)
    for _ in range(steps):
        actions, *batched = twins.step()
        for i in np.flatnonzero(~twins.ended):
            twins.check_scalar_step(i, _one(actions, i), batched)
        if twins.ended.any():
            mask = torch.as_tensor(twins.ended)
            observations, _ = twins.vec.reset(options={"reset_mask": mask})
            for i in range(NUM_ENVS):
                if twins.ended[i]:
                    assert_same_observation(observations[i], twins.scalars[i].reset()[0])
                else:  # untouched envs keep their observation
                    assert torch.equal(observations[i], batched[0][i])
            twins.ended[:] = False
    return twins


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_disabled_mode_equals_scalar_env(task_id: str) -> None:
    twins = _run_disabled(task_id, steps=150)
    assert twins.terminations > NUM_ENVS
    if task_id == "evolstm/TMaze-v0":
        assert twins.truncations > 0


def test_masked_cartpole_truncates_like_time_limit() -> None:
    twins = _run_disabled("evolstm/MaskedCartPole-v0", steps=100, max_episode_steps=30)
    assert twins.truncations > 0 and twins.terminations > 0


def test_masked_cartpole_with_patched_thresholds_truncates_only() -> None:
    twins = Twins("evolstm/MaskedCartPole-v0", AutoresetMode.DISABLED, max_episode_steps=60)
    twins.vec.x_threshold = twins.vec.theta_threshold_radians = np.inf
    for env in twins.scalars:
        env.unwrapped.x_threshold = env.unwrapped.theta_threshold_radians = np.inf
    twins.reset(SEEDS)
    for _ in range(60):  # the pole swings far past +-12 degrees here
        actions, *batched = twins.step()
        for i in range(NUM_ENVS):
            twins.check_scalar_step(i, _one(actions, i), batched)
    assert twins.terminations == 0 and twins.truncations == NUM_ENVS


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_disabled_mode_keeps_stepping_ended_envs(task_id: str) -> None:
    env = _make_vec(task_id, num_envs=4, autoreset_mode="Disabled")
    env.reset(seed=0)
    for _ in range(300):
        actions = torch.as_tensor(env.action_space.sample())
        observations, rewards, *_ = env.step(actions)
        assert observations.shape[0] == rewards.shape[0] == 4


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_next_step_autoreset_equals_scalar_reset(task_id: str) -> None:
    twins = Twins(task_id, AutoresetMode.NEXT_STEP)
    twins.reset(SEEDS)
    autoresets = 0
    for _ in range(150):
        was_ended = twins.ended.copy()
        actions, observations, rewards, terminated, truncated = twins.step()
        for i in range(NUM_ENVS):
            if was_ended[i]:  # action ignored: reset observation, reward 0, not done
                assert_same_observation(observations[i], twins.scalars[i].reset()[0])
                assert rewards[i].item() == 0.0
                assert not terminated[i].item() and not truncated[i].item()
                twins.ended[i] = False
                autoresets += 1
            else:
                batched = (observations, rewards, terminated, truncated)
                twins.check_scalar_step(i, _one(actions, i), batched)
    assert autoresets > NUM_ENVS


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_reset_seeds_and_mask(task_id: str) -> None:
    env = _make_vec(task_id, num_envs=8)
    scalar = gymnasium.make(task_id)
    observations, _ = env.reset(seed=5)  # int seed: env i uses 5 + i
    for i in range(8):
        assert_same_observation(observations[i], scalar.reset(seed=5 + i)[0])
    start = observations.clone()
    distinct = {tuple(o.tolist()) for o in observations}
    assert len(distinct) == 1 if task_id in FIXED_START_TASKS else len(distinct) > 1

    mask = np.zeros(8, dtype=bool)
    mask[[1, 6]] = True
    seeds = [100 + i for i in range(8)]
    observations, _ = env.reset(seed=seeds, options={"reset_mask": mask})
    for i in range(8):
        expected = scalar.reset(seed=seeds[i])[0] if mask[i] else start[i].numpy()
        assert_same_observation(observations[i], expected)

    # A later reset without seed continues each env's own generator.
    again, _ = env.reset()
    for i in range(8):
        scalar.reset(seed=seeds[i] if mask[i] else 5 + i)
        assert_same_observation(again[i], scalar.reset()[0])

    with pytest.raises(ValueError):
        env.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError):
        env.reset(options={"reset_mask": np.ones(3, dtype=bool)})


@pytest.mark.parametrize("task_id", TASK_IDS)
@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, "SameStep", "bogus"])
def test_unsupported_autoreset_mode_is_rejected(task_id: str, mode: Any) -> None:
    with pytest.raises(ValueError):
        _make_vec(task_id, num_envs=2, autoreset_mode=mode)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_autoreset_mode_accepts_enum_value_and_name(task_id: str) -> None:
    for mode in ("Disabled", "DISABLED", AutoresetMode.DISABLED):
        env = _make_vec(task_id, num_envs=2, autoreset_mode=mode)
        assert env.metadata["autoreset_mode"] is AutoresetMode.DISABLED


@pytest.mark.parametrize(
    "task_id, kwargs",
    [(t, k) for t in TASK_IDS for k in INVALID_KWARGS.get(t, [])]
    + [(t, {"render_mode": "rgb_array"}) for t in TASK_IDS]
    + [(t, {"num_envs": 0}) for t in TASK_IDS],
)
def test_invalid_kwargs_are_rejected(task_id: str, kwargs: dict) -> None:
    kwargs = {"num_envs": 2, **kwargs}
    with pytest.raises(ValueError):
        _make_vec(task_id, **kwargs)


def test_masked_cartpole_float64_states_are_bit_identical() -> None:
    """Full float64 states, not just the float32 observations: catches cos/sin that
    are off by one ulp (torch.cos/torch.sin are, for ~0.1% of angles)."""
    from evolstm.tasks.cartpole import MaskedCartPoleEnv, MaskedCartPoleVectorEnv

    n = 256
    vec = MaskedCartPoleVectorEnv(n, autoreset_mode=AutoresetMode.DISABLED)
    scalars = [MaskedCartPoleEnv() for _ in range(n)]
    vec.reset(seed=7)
    for i, env in enumerate(scalars):
        env.reset(seed=7 + i)
    actions = np.random.default_rng(1).integers(2, size=(100, n))
    for step_actions in actions:
        _, _, terminated, _, _ = vec.step(torch.as_tensor(step_actions))
        for i, env in enumerate(scalars):
            _, _, scalar_terminated, _, _ = env.step(int(step_actions[i]))
            assert scalar_terminated == terminated[i].item()
            assert np.array_equal(vec.state["physics"][i].numpy(), env.state)
            if scalar_terminated:
                env.reset()
        vec.reset(options={"reset_mask": terminated})


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_start_states_do_not_depend_on_the_batch(task_id: str) -> None:
    """An episode's start state is a function of its seed alone: the same in a batch of 1 and of 300, at any
    position, and after a masked reset among other envs."""
    seeds = np.random.default_rng(0).integers(0, 2**63, size=300)
    whole = _make_vec(task_id, num_envs=300)
    whole.reset(seed=seeds)
    order = np.random.default_rng(1).permutation(300)
    shuffled = _make_vec(task_id, num_envs=300)
    shuffled.reset(seed=seeds[order])
    single = _make_vec(task_id, num_envs=1)
    for name, value in whole.state.items():
        assert torch.equal(shuffled.state[name], value[order]), name
    for i in (0, 17, 299):
        single.reset(seed=seeds[i : i + 1])
        for name, value in whole.state.items():
            assert torch.equal(single.state[name][0], value[i]), (name, i)
    masked = _make_vec(task_id, num_envs=300)
    masked.reset(seed=0)
    mask = torch.zeros(300, dtype=torch.bool)
    mask[order[:50]] = True
    masked.reset(seed=seeds, options={"reset_mask": mask})
    for name, value in whole.state.items():
        assert torch.equal(masked.state[name][mask], value[mask]), name


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_seeds_outside_64_bits_are_refused(seed: int) -> None:
    env = _make_vec("evolstm/TMaze-v0", num_envs=2)
    with pytest.raises(ValueError, match="2\\^64"):
        env.reset(seed=[seed, 0])
    with pytest.raises((ValueError, gymnasium.error.Error)):  # Gymnasium refuses negative seeds itself
        gymnasium.make("evolstm/TMaze-v0").reset(seed=seed)
