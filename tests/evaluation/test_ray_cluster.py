"""Ray beyond one process: a simulated two-node cluster, and a real head on 127.0.0.1 that runs
`python -m evolstm.run` through `ray job submit`. Each runs in processes of its own and is stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]
pytest.importorskip("ray")

#: what `ray job submit` says while the head's job server or its agent is still starting
NOT_READY = ("Connection refused", "try again later", "No available agent")
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # single-machine Ray: advertise and bind 127.0.0.1 only

TWO_NODES = """
import numpy as np, ray, torch
from ray.cluster_utils import Cluster
from evolstm.evaluation.ray import RayEvaluator
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy
from evolstm.environment import policy_spec
from evolstm.seeding import episode_seeds
from tests.conftest import make_experiment

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
cluster.add_node(num_cpus=1)
try:
    experiment = make_experiment(evaluation={"backend": "ray", "workers": 2}, ray={"address": cluster.address})
    spec = policy_spec(experiment.task, experiment.policy)
    params = Policy(spec).flat() + 0.5 * torch.randn(6, Policy(spec).num_params, generator=torch.Generator().manual_seed(0))
    seeds = episode_seeds(0, "population", 0, 6, 2)
    evaluator = RayEvaluator(experiment, spec)
    nodes = {ray.get(worker.location.remote())[1] for worker in evaluator.workers}
    results = evaluator.score(params, seeds, ObsNorm.identity(spec.obs_dim))
    expected = VectorEvaluator(experiment.task, spec, "local").score(params, seeds, ObsNorm.identity(spec.obs_dim))
    assert len(nodes) == 2, nodes
    np.testing.assert_array_equal(results.returns, expected.returns)
    print("two nodes ok")
finally:
    ray.shutdown()
    cluster.shutdown()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_node_cluster_splits_the_population_over_nodes() -> None:
    root = Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", TWO_NODES],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, **LOOPBACK},
        timeout=240,
    )
    assert done.returncode == 0 and "two nodes ok" in done.stdout, done.stderr[-3000:]


def test_ray_job_submit_runs_the_same_command(tmp_path: Path) -> None:
    ray_cli = str(Path(sys.executable).with_name("ray"))
    gcs_port, dashboard_port, agent_port, client_port = (_free_port() for _ in range(4))
    head = subprocess.Popen(  # every port chosen free: the test run's own private cluster holds Ray's defaults
        [
            ray_cli,
            "start",
            "--head",
            "--block",
            f"--port={gcs_port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}",
            f"--dashboard-agent-listen-port={agent_port}",
            f"--ray-client-server-port={client_port}",
            "--num-cpus=2",
            "--include-dashboard=true",
        ],
        env={**os.environ, **LOOPBACK},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    experiment = tmp_path / "job.yaml"
    experiment.write_text(
        "name: job\ntask: {id: evolstm/TMaze-v0, kwargs: {length: 3}}\npolicy: {hidden: 4}\n"
        "trainer: {kind: es, algorithm: snes, popsize: 8, episodes: 2, generations: 3}\n"
        "evaluation: {backend: ray, workers: 2, final_episodes: 4}\n"
    )
    try:
        command = [
            ray_cli,
            "job",
            "submit",
            "--address",
            f"http://127.0.0.1:{dashboard_port}",
            "--",
            sys.executable,
            "-m",
            "evolstm.run",
            str(experiment),
            "--out",
            str(tmp_path / "runs"),
        ]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the dashboard's job server needs a few seconds after the head starts
            token = (Path.home() / ".ray/auth_token").exists()  # Ray >= 2.5x turns token auth on by default
            env = {**os.environ, "RAY_AUTH_MODE": "token"} if token else None
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
            if done.returncode == 0 or not any(sign in done.stderr + done.stdout for sign in NOT_READY):
                break
            time.sleep(1)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        assert "succeeded" in done.stdout + done.stderr
        (run,) = (tmp_path / "runs").iterdir()
        assert (run / "summary.json").is_file() and (run / "policies/center.safetensors").is_file()
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head and everything it started share its process group
        try:
            head.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
