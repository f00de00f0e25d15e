"""The Ray backend: results independent of the worker count (ES fitness and REINFORCE collections alike), killed
workers replaced and their shares re-run, env errors named, and the private cluster bound to loopback. One local
cluster serves the whole test run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy
from evolstm.rollout import EpisodeError
from evolstm.environment import policy_spec
from evolstm.run import main
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

SLOW_ENV = '''
import os, time, gymnasium, numpy as np

class Slow(gymnasium.Env):
    """20 steps of 2 ms each; logs "<pid> reset <seed>" and "<pid> end <seed>" lines to the file `log`."""
    observation_space = gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self, log):
        self.log = log

    def _note(self, what):
        with open(self.log, "a") as handle:
            handle.write(f"{os.getpid()} {what} {self.seed}\\n")

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.seed = 0, seed
        self._note("reset")
        return np.zeros(1, np.float32), {}

    def step(self, action):
        time.sleep(0.002)
        self.t += 1
        if self.t == 20:
            self._note("end")
        return np.full(1, self.t / 20, np.float32), float(action), self.t == 20, False, {}

gymnasium.register("Slow-v0", entry_point=Slow)
'''


DYING_ENV = '''
import os, gymnasium, numpy as np

class Dying(gymnasium.Env):
    """Its process dies (as a segfaulting simulator would) on the first step."""
    observation_space = gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        os._exit(3)

gymnasium.register("Dying-v0", entry_point=Dying)
'''


@pytest.fixture(scope="module", autouse=True)
def failing_env_module(ray_cluster: Path) -> None:
    """The failing env's module, importable by the cluster's workers."""
    (ray_cluster / "user_failing.py").write_text(FAILING_ENV)
    (ray_cluster / "user_slow.py").write_text(SLOW_ENV)
    (ray_cluster / "user_dying.py").write_text(DYING_ENV)
    (ray_cluster / "user_cue_box.py").write_text((Path(__file__).parents[1] / "cue_box.py").read_text())


def _setup(workers: int, **sections):
    experiment = make_experiment(evaluation={"backend": "ray", "workers": workers}, **sections)
    spec = policy_spec(experiment.task, experiment.policy)
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
    expected = VectorEvaluator(experiment.task, spec, "local").score(params, seeds, norm)
    evaluator = RayEvaluator(experiment, spec)
    results = evaluator.score(params, seeds, norm)
    evaluator.close()
    np.testing.assert_array_equal(results.returns, expected.returns)
    np.testing.assert_array_equal(results.lengths, expected.lengths)
    assert results.obs_stats.count == expected.obs_stats.count


@pytest.mark.parametrize("workers", [2, 3])
def test_collections_on_workers_equal_the_local_one(workers: int) -> None:
    """A REINFORCE batch split over workers: the same trajectories, bit for bit, as played in this process (Box
    actions, whose last bits would show a policy stepped on fewer rows than the whole batch)."""
    from evolstm.evaluation.ray import RayEvaluator

    experiment = make_experiment(
        task={"id": "user_cue_box:CueBox-v0", "kwargs": {}},
        policy={"kind": "lstm", "hidden": 8},
        evaluation={"backend": "ray", "workers": workers},
    )
    spec = policy_spec(experiment.task, experiment.policy)
    params = Policy(spec).flat()
    seeds, norm, sampling = episode_seeds(0, "training", 0, 1, 7)[0], ObsNorm.identity(2), Sampling((0.5,))
    threads = torch.get_num_threads()
    torch.set_num_threads(experiment.threads)  # as a run does; each worker runs one thread
    try:
        expected = VectorEvaluator(experiment.task, spec, "local").collect(params, seeds, norm, sampling)
    finally:
        torch.set_num_threads(threads)
    evaluator = RayEvaluator(experiment, spec)
    results = evaluator.collect(params, seeds, norm, sampling)
    evaluator.close()
    np.testing.assert_array_equal(results.returns, expected.returns)
    for name, value in vars(expected.trajectories).items():
        assert torch.equal(getattr(results.trajectories, name), value), name


def _reinforce_rows(tmp_path: Path, name: str, *overrides: str) -> list[dict]:
    """Metric rows (timings aside) of a short REINFORCE run on masked CartPole with observation normalization."""
    args = [
        str(Path(__file__).parents[2] / "experiments/masked-cartpole-reinforce.yaml"),
        "--quiet",
        "--out",
        str(tmp_path / name),
        "--set",
        "trainer.iterations=3",
        "--set",
        "trainer.episodes=7",
        "--set",
        "evaluation.greedy_every=1",
        "--set",
        "evaluation.final_episodes=3",
        *overrides,
    ]
    assert main(args) == 0
    (run,) = (tmp_path / name).iterdir()
    return [
        {k: v for k, v in json.loads(line).items() if k not in ("wall_time", "step_time")}
        for line in (run / "metrics.jsonl").read_text().splitlines()
    ]


@pytest.mark.parametrize("task", ["evolstm/MaskedCartPole-v0", "user_cue_box:CueBox-v0"])
def test_reinforce_metrics_do_not_depend_on_the_worker_count(tmp_path: Path, task: str) -> None:
    """Every episode samples its actions from its own seed and plays as in the whole batch, so REINFORCE learns the
    same on 1, 2 or 3 workers as locally, bit for bit (Box actions show any difference in their last bits)."""
    local = _reinforce_rows(tmp_path, "local", "--set", f"task.id={task}")
    for workers in (1, 2, 3):
        ray_rows = _reinforce_rows(
            tmp_path,
            f"ray{workers}",
            "--set",
            f"task.id={task}",
            "--set",
            "evaluation.backend=ray",
            "--set",
            f"evaluation.workers={workers}",
        )
        assert ray_rows == local, workers


def test_a_killed_worker_is_replaced_and_its_share_rerun(tmp_path: Path) -> None:
    """The worker is killed while it is playing its share (it has reset some episodes, ended none), and a new
    process plays that share again from the start: every episode of it is reset and ended by the new process."""
    from evolstm.evaluation.ray import RayEvaluator

    log = tmp_path / "episodes.log"
    experiment, spec, params = _setup(2, task={"id": "user_slow:Slow-v0", "kwargs": {"log": str(log)}})
    seeds = episode_seeds(0, "population", 0, len(params), 2)
    norm = ObsNorm.identity(spec.obs_dim)
    evaluator = RayEvaluator(experiment, spec)
    expected = evaluator.score(params, seeds, norm)
    victim = ray.get(evaluator.workers[1].location.remote())[0]
    log.write_text("")

    def kill_once_resetting() -> None:
        for _ in range(2000):
            if f"{victim} reset" in log.read_text():
                os.kill(victim, signal.SIGKILL)
                return
            time.sleep(0.001)

    killer = threading.Thread(target=kill_once_resetting)
    killer.start()
    results = evaluator.score(params, seeds, norm)
    killer.join()
    replacement = ray.get(evaluator.workers[1].location.remote())[0]
    lo, hi = evaluator._shares(len(params))[1]
    evaluator.close()
    lines = [line.split() for line in log.read_text().splitlines()]
    share = {str(s) for s in seeds[lo:hi].reshape(-1)}  # worker 1's members
    assert replacement != victim
    started = {seed for pid, what, seed in lines if pid == str(victim) and what == "reset"}
    assert started and started <= share  # it was playing its share (killed during or after its resets) ...
    assert not [line for line in lines if line[0] == str(victim) and line[1] == "end"]  # ... and ended none of it
    for what in ("reset", "end"):  # ... and played again, whole, by the new process
        assert {seed for pid, event, seed in lines if pid == str(replacement) and event == what} == share
    np.testing.assert_array_equal(results.returns, expected.returns)


def test_an_env_error_names_env_and_member_and_keeps_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from evolstm.evaluation.ray import RayEvaluator

    experiment, spec, params = _setup(2, task={"id": "user_failing:Failing-v0", "kwargs": {}})
    evaluator = RayEvaluator(experiment, spec)
    seeds = np.zeros((7, 2), dtype=np.int64)
    seeds[4, 1] = 13
    with pytest.raises(EpisodeError, match=r"env Failing-v0 raised in member 4, episode 1: RuntimeError: sensor"):
        evaluator.score(params, seeds, ObsNorm.identity(1))
    evaluator.close()
    (tmp_path / "e.yaml").write_text(
        "name: failing\ntask: {id: 'user_failing:Failing-v0', kwargs: {fail_always: true}}\npolicy: {hidden: 4}\n"
        "trainer: {kind: es, algorithm: snes, popsize: 4, episodes: 1, generations: 3}\n"
        "evaluation: {backend: ray, workers: 2}\n"
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
    assert (
        main(
            [
                quickstart,
                "--out",
                str(tmp_path / "ray"),
                *args,
                "--set",
                "evaluation.backend=ray",
                "--set",
                "evaluation.workers=2",
            ]
        )
        == 0
    )
    rows = []
    for out in ("local", "ray"):
        (run,) = (tmp_path / out).iterdir()
        rows.append(
            [
                {k: v for k, v in json.loads(line).items() if k not in ("wall_time", "step_time")}
                for line in (run / "metrics.jsonl").read_text().splitlines()
            ]
        )
    assert rows[0] == rows[1]


def test_a_worker_that_keeps_dying_ends_the_run_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Past its restarts a dead worker is a training failure (exit 1, results kept), not a traceback."""
    (tmp_path / "e.yaml").write_text(
        "name: dying\ntask: {id: 'user_dying:Dying-v0'}\npolicy: {hidden: 4}\n"
        "trainer: {kind: es, algorithm: snes, popsize: 4, episodes: 1, generations: 2}\n"
        "evaluation: {backend: ray, workers: 1, final_episodes: 2}\n"
    )
    assert main([str(tmp_path / "e.yaml"), "--out", str(tmp_path / "runs"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: a Ray worker died 4 times playing members 0") and err.count("\n") == 1, err
    (run,) = (tmp_path / "runs").iterdir()
    assert "a Ray worker died" in json.loads((run / "summary.json").read_text())["error"]
