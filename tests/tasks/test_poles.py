"""The pole-balancing task: its physics equals NEAT's double-pole code, its fitness functions are NEAT's, its
generalization grid is NEAT's, and the batched form starts and steps as the scalar one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

import evolstm.tasks  # noqa: F401  (registers the tasks)
from evolstm.tasks.poles import DAMPING_STEPS, PoleBalancingEnv, generalization_starts

REFERENCE = Path(__file__).with_name("neat_double_pole.c")


@pytest.fixture(scope="module")
def neat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NEAT's double-pole physics, transcribed in C (see the file's header), built with the system's compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler here to build NEAT's double-pole reference")
    binary = tmp_path_factory.mktemp("neat") / "double_pole"
    subprocess.run([compiler, "-O0", "-ffp-contract=off", "-o", str(binary), str(REFERENCE), "-lm"], check=True)
    return binary


@pytest.mark.parametrize("start", [None, [0.3, -0.2, 0.05, 0.1, -0.02, 0.3]])
def test_physics_equals_neats_double_pole_code(neat: Path, start: list[float] | None) -> None:
    """Compared: the full state (x, x_dot, theta1, theta1_dot, theta2, theta2_dot) after each of 300 actions, from
    NEAT's standard start and from another one, against NEAT C++'s CartPole::step, rk4 and the RK4 branch of
    performAction (f3270/NEAT, src/experiments.cpp; constants from include/experiments.h), bit for bit. Actions are
    multiples of 1/64, so that NEAT's force (a' - 0.5) * 20 for a' = (a + 1) / 2 equals evolstm's 10 a exactly."""
    env = gymnasium.make("evolstm/DoublePoleNoVel-v0", velocities=True).unwrapped
    env.reset(options=None if start is None else {"state": start})
    first = env.state["physics"][0].tolist()
    actions = np.random.default_rng(0).integers(-64, 65, 300) / 64.0
    lines = [" ".join(map(repr, first))] + [repr(float((a + 1) / 2)) for a in actions]
    done = subprocess.run([str(neat)], input="\n".join(lines), capture_output=True, text=True, check=True)
    reference = np.array([[float(v) for v in line.split()] for line in done.stdout.splitlines()])
    ours = []
    for action in actions:
        env.step(np.array([action], dtype=np.float32))
        ours.append(env.state["physics"][0].copy())
    assert first[2] == 0.07 or start is not None
    np.testing.assert_array_equal(np.array(ours), reference)


def test_standard_fitness_counts_the_steps_balanced() -> None:
    """No push from the standard start: the long pole falls; the return is the steps before the failing one."""
    env = gymnasium.make("evolstm/DoublePoleNoVel-v0")
    env.reset()
    total, steps, terminated = 0.0, 0, False
    while not terminated:
        _, reward, terminated, truncated, _ = env.step(np.zeros(1, dtype=np.float32))
        total, steps = total + reward, steps + 1
        assert not truncated
    assert total == steps - 1 > 10


def _neat_damping_fitness(jiggles: list[float], steps: int) -> float:
    """NEAT's non-Markov fitness as experiments.cpp computes it after its loop: `steps` is its loop counter (the
    failing step, or 1001), jigglestep[i] the jiggle after step i + 1."""
    balanced = min(steps - 1, DAMPING_STEPS)
    jiggle_total = sum(jiggles[count] for count in range(steps - 99 - 2, steps - 2 + 1)) if steps > 100 else 0.0
    if balanced > 100:
        return 0.1 * (balanced / 1000.0) + 0.9 * (0.75 / jiggle_total)
    return 0.1 * (balanced / 1000.0)


@pytest.mark.parametrize(
    ("start", "push"),
    [
        ([0.1, 0.0, 0.0, 0.0, 0.0, 0.0], 0.0),  # in equilibrium off centre: balanced to the end, jiggle 0.1 a step
        ([0.0, 0.79, 0.0, 0.0, 0.0, 0.0], 0.0),  # coasts off the track at step 152: the window ends at step 151
        ([0.0, 1.18, 0.0, 0.0, 0.0, 0.0], 0.0),  # off at step 102: 101 balanced steps, the damping term counts
        ([0.0, 1.195, 0.0, 0.0, 0.0, 0.0], 0.0),  # off at step 101: 100 balanced steps, no damping term
        (None, 0.0),  # the long pole falls
    ],
)
def test_damping_fitness_is_neats(start: list[float] | None, push: float) -> None:
    env = gymnasium.make("evolstm/DoublePoleNoVel-v0", fitness="damping", velocities=True).unwrapped
    env.reset(options=None if start is None else {"state": start})
    jiggles, rewards, steps = [], [], 0
    while True:
        _, reward, terminated, truncated, _ = env.step(np.array([push], dtype=np.float32))
        steps += 1
        x, x_dot, theta, theta_dot = env.state["physics"][0, :4]
        jiggles.append(abs(x) + abs(x_dot) + abs(theta) + abs(theta_dot))
        rewards.append(reward)
        if terminated or truncated:
            break
    neat_steps = steps if terminated else steps + 1  # NEAT's counter passes the last step on a full run
    assert rewards[:-1] == [0.0] * (steps - 1)
    assert rewards[-1] == pytest.approx(_neat_damping_fitness(jiggles, neat_steps), rel=1e-12)
    expected_steps = {0.0: DAMPING_STEPS, 0.79: 152, 1.18: 102, 1.195: 101}
    if start is not None:
        assert steps == expected_steps[start[1]]
    if start is not None and start[1] == 0.0:
        assert truncated and rewards[-1] == pytest.approx(0.1 + 0.9 * 0.75 / 10.0)


def test_generalization_grid_is_neats() -> None:
    """NEAT's 625 starts: statevals * 4.32 - 2.16 (x), * 2.70 - 1.35, * 0.12566304 - 0.06283152,
    * 0.30019504 - 0.15009752, the short pole at 0; and start="grid" picks start seed % 625."""
    grid = generalization_starts(2)
    assert grid.shape == (625, 6) and not grid[:, 4:].any()
    np.testing.assert_allclose(grid[0, :4], [-1.944, -1.215, -0.0565483680, -0.1350877680], rtol=1e-12)
    np.testing.assert_allclose(grid[-1, :4], [1.944, 1.215, 0.0565483680, 0.1350877680], rtol=1e-12)
    assert len({tuple(row) for row in grid}) == 625
    env = gymnasium.make("evolstm/DoublePoleNoVel-v0", start="grid", velocities=True).unwrapped
    batched = gymnasium.make_vec(
        "evolstm/DoublePoleNoVel-v0", num_envs=3, vectorization_mode="vector_entry_point", start="grid"
    )
    batched.reset(seed=[7, 632, 624])
    for row, seed in enumerate([7, 632, 624]):
        env.reset(seed=seed)
        np.testing.assert_array_equal(env.state["physics"][0], grid[seed % 625])
        assert torch.equal(batched.state["physics"][row], torch.as_tensor(grid[seed % 625]))


def test_single_pole_has_one_pole_and_its_observations() -> None:
    env = PoleBalancingEnv(poles=1)
    observation, _ = env.reset()
    assert observation.shape == (2,) and env.state["physics"].shape == (1, 4)
    assert observation[1] == np.float32(0.07 / 0.52)


def test_cart_friction_slows_the_cart() -> None:
    """Shark's cart friction term (off by default, as in NEAT's code): a coasting cart slows down with it."""
    speeds = []
    for friction in (0.0, 5e-4):
        env = PoleBalancingEnv(velocities=True, cart_friction=friction)
        env.reset(options={"state": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]})
        for _ in range(10):
            env.step(np.zeros(1, dtype=np.float32))
        speeds.append(env.state["physics"][0, 1])
    assert speeds[1] < speeds[0] == pytest.approx(1.0, abs=1e-6)
