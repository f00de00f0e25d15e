"""Ray beyond one process: a simulated two-node cluster, and a real head on 127.0.0.1 that runs
`python -m evolstm.run` through `ray job submit`. Each runs in processes of its own and is stopped by pid."""

from __future__ import annotations

import json
import os
import re
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
ROOT = Path(__file__).parents[2]

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
    done = subprocess.run(
        [sys.executable, "-c", TWO_NODES],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **LOOPBACK},
        timeout=240,
    )
    assert done.returncode == 0 and "two nodes ok" in done.stdout, done.stderr[-3000:]


def _readme_job_command(dashboard: str) -> str:
    """The README's `ray job submit` command, word for word, with HEAD replaced by this test's head."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^ *(RAY_AUTH_MODE=token ray job submit .*?\\\n.*?)$", readme, re.M).group(1)
    assert "http://HEAD:8265" in command
    return command.replace("HEAD:8265", dashboard)


def test_the_readmes_ray_job_command_runs_as_written(tmp_path: Path) -> None:
    """The head (started as the README's, on loopback and free ports) and the job run with HOME in tmp_path: the head
    writes its token there, the job its run directory to ~/evolstm-runs (the README's place), and the test finds it."""
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, **LOOPBACK, "HOME": str(tmp_path), "PATH": f"{venv_bin}:{os.environ['PATH']}"}
    env["RAY_AUTH_MODE"] = "token"  # as the README's head command; the head writes its token to the HOME above
    env.pop("EVOLSTM_OUT", None)
    generate = subprocess.run(["ray", "get-auth-token", "--generate"], env=env, capture_output=True, timeout=60)
    assert generate.returncode == 0 and (tmp_path / ".ray/auth_token").is_file()  # the README's first step on the head
    gcs_port, dashboard_port, agent_port, client_port = (_free_port() for _ in range(4))
    head = subprocess.Popen(  # every port chosen free: the test run's own private cluster holds Ray's defaults
        [
            "ray",
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
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    command = _readme_job_command(f"127.0.0.1:{dashboard_port}")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the dashboard's job server needs a few seconds after the head starts
            done = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, env=env, timeout=480, cwd=ROOT
            )
            if done.returncode == 0 or not any(sign in done.stderr + done.stdout for sign in NOT_READY):
                break
            time.sleep(1)
        log = done.stdout + done.stderr
        assert done.returncode == 0 and "succeeded" in log, log[-3000:]
        (run,) = (tmp_path / "evolstm-runs").iterdir()
        assert run.name.startswith("ray-masked-cartpole-")
        assert f"run dir {run}" in log and f": {run}" in log  # the job's log says where it is, first and last
        summary = json.loads((run / "summary.json").read_text())
        assert summary["error"] is None and (run / "policies/center.safetensors").is_file()
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head and everything it started share its process group
        try:
            head.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
