"""The Ray backend: results independent of the worker count, killed workers replaced, env errors named, and the
private cluster bound to loopback. One local cluster serves the whole module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from evolstm.evaluation.local import LocalEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy
from evolstm.rollout import EpisodeError
from evolstm.run import main, policy_spec
from evolstm.sampling import Sampling
from evolstm.seeding import episode_seeds
from tests.conftest import make_experiment

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")

FAILING_ENV = '''
import gymnasium, numpy as np

class Failing(gymnasium.Env):
    """Raises on its 3rd step when reset with seed 13."""
    observation_space = gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self, fail_always=False):
        self.fail_always = fail_always

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.bad = 0, seed == 13 or self.fail_always
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t == 3 and self.bad:
            raise RuntimeError("sensor unplugged")
        return np.zeros(1, np.float32), 0.0, False, False, {}

gymnasium.register("Failing-v0", entry_point=Failing, max_episode_steps=5)
'''


@pytest.fixture(scope="module", autouse=True)
def failing_env_module(ray_cluster: Path) -> None:
    """The failing env's module, importable by the cluster's workers."""
    (ray_cluster / "user_failing.py").write_text(FAILING_ENV)


def _setup(workers: int, **sections):
    experiment = make_experiment(evaluation={"backend": "ray", "workers": workers}, **sections)
    spec = policy_spec(experiment)
    torch.manual_seed(0)
    center = Policy(spec).flat()
    return experiment, spec, center + 0.5 * torch.randn(7, center.numel())


def test_private_cluster_listens_on_loopback_only() -> None:
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
    ours = [line for line in listening if "gcs_server" in line or "raylet" in line]
    assert ours and all("127.0.0.1" in line.split()[3] for line in ours), ours


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_fitness_does_not_depend_on_the_worker_count(workers: int) -> None:
    from evolstm.evaluation.ray import RayEvaluator

    experiment, spec, params = _setup(workers)
    seeds = episode_seeds(0, "population", 4, 7, 3)
    norm = ObsNorm.identity(spec.obs_dim)
    expected = LocalEvaluator(experiment.task, spec).evaluate(params, seeds, norm)
    evaluator = RayEvaluator(experiment, spec)
    results = evaluator.evaluate(params, seeds, norm)
    evaluator.close()
    np.testing.assert_array_equal(results.returns, expected.returns)
    np.testing.assert_array_equal(results.lengths, expected.lengths)
    assert results.obs_stats.count == expected.obs_stats.count


def test_episodes_for_reinforce_are_collected_on_workers() -> None:
    from evolstm.evaluation.ray import RayEvaluator

    experiment, spec, params = _setup(2)
    evaluator = RayEvaluator(experiment, spec)
    results = evaluator.evaluate(params[:1], episode_seeds(0, "population", 0, 1, 5), ObsNorm.identity(3), Sampling(1))
    evaluator.close()
    batch = results.trajectories
    assert results.returns.shape == (1, 5) and batch.valid.shape[1] == 5
    np.testing.assert_array_equal(batch.valid.sum(0).numpy(), results.lengths[0])


def test_reinforce_trains_through_ray_workers() -> None:
    from evolstm.evaluation.ray import RayEvaluator
    from evolstm.trainers import make_trainer

    experiment = make_experiment(
        trainer={"kind": "reinforce", "episodes": 6, "iterations": 2},
        evaluation={"backend": "ray", "workers": 2, "episodes": 2},
    )
    spec = policy_spec(experiment)
    evaluator = RayEvaluator(experiment, spec)
    trainer = make_trainer(experiment, evaluator, spec, Policy(spec).flat())
    rows = [trainer.step() for _ in range(2)]
    evaluator.close()
    assert trainer.finished() and rows[1]["env_steps"] > rows[0]["env_steps"] > 0


def test_a_killed_worker_is_replaced_and_its_share_rerun() -> None:
    from evolstm.evaluation.ray import RayEvaluator

    experiment, spec, params = _setup(2, task={"id": "evolstm/MaskedCartPole-v0", "kwargs": {}})
    params = params.repeat(40, 1)  # long enough to kill a worker in the middle
    seeds = episode_seeds(0, "population", 0, len(params), 4)
    norm = ObsNorm.identity(spec.obs_dim)
    evaluator = RayEvaluator(experiment, spec)
    expected = evaluator.evaluate(params, seeds, norm)
    victim = ray.get(evaluator.workers[1].location.remote())[0]
    killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
    killer.start()
    results = evaluator.evaluate(params, seeds, norm)
    killer.join()
    assert ray.get(evaluator.workers[1].location.remote())[0] != victim  # a new process took its place
    evaluator.close()
    np.testing.assert_array_equal(results.returns, expected.returns)


def test_an_env_error_names_env_and_member_and_keeps_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from evolstm.evaluation.ray import RayEvaluator

    experiment, spec, params = _setup(2, task={"id": "user_failing:Failing-v0", "kwargs": {}})
    evaluator = RayEvaluator(experiment, spec)
    seeds = np.zeros((7, 2), dtype=np.int64)
    seeds[4, 1] = 13
    with pytest.raises(EpisodeError, match=r"env Failing-v0 raised in member 4, episode 1: RuntimeError: sensor"):
        evaluator.evaluate(params, seeds, ObsNorm.identity(1))
    evaluator.close()
    (tmp_path / "e.yaml").write_text(
        "name: failing\ntask: {id: 'user_failing:Failing-v0', kwargs: {fail_always: true}}\npolicy: {hidden: 4}\n"
        "trainer: {kind: es, algorithm: snes, popsize: 4, generations: 3}\n"
        "evaluation: {backend: ray, workers: 2, episodes: 1}\n"
    )
    assert main([str(tmp_path / "e.yaml"), "--out", str(tmp_path / "runs"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: env Failing-v0 raised in member") and err.count("\n") == 1
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert "sensor unplugged" in summary["error"] and (run / "config.yaml").is_file()


def test_es_on_ray_gives_the_local_runs_metrics(tmp_path: Path) -> None:
    args = ["--quiet", "--set", "trainer.generations=3", "--set", "trainer.popsize=8"]
    quickstart = str(Path(__file__).parents[2] / "experiments/quickstart.yaml")
    assert main([quickstart, "--out", str(tmp_path / "local"), *args]) == 0
    assert main([quickstart, "--out", str(tmp_path / "ray"), *args, "--set", "evaluation.backend=ray",
                 "--set", "evaluation.workers=2"]) == 0
    rows = []
    for out in ("local", "ray"):
        (run,) = (tmp_path / out).iterdir()
        rows.append([{k: v for k, v in json.loads(line).items() if k not in ("wall_time", "step_time")}
                     for line in (run / "metrics.jsonl").read_text().splitlines()])
    assert rows[0] == rows[1]
