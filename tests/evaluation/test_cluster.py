"""Joining or starting a Ray cluster: a malformed address, a head that does not answer and GPUs the cluster lacks
each give one line; the agents a killed driver's private cluster leaves behind are stopped by the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from evolstm.config import ConfigError
from tests.conftest import make_experiment

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")
ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("address", "code", "message"),
    [
        ("junk", 2, "error: ray.address: 'junk' is not a Ray address"),
        ("127.0.0.1:1", 1, "error: cannot reach the Ray cluster at 127.0.0.1:1"),
        ("ray://127.0.0.1:1", 1, "error: cannot reach the Ray cluster at ray://127.0.0.1:1"),
    ],
)
def test_a_bad_or_silent_address_is_one_line(tmp_path: Path, address: str, code: int, message: str) -> None:
    command = [
        sys.executable,
        "-m",
        "evolstm.run",
        "experiments/quickstart.yaml",
        "--out",
        str(tmp_path),
        "--quiet",
        "--set",
        "evaluation.backend=ray",
        "--set",
        f"ray.address={address}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == code and result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1 and not list(tmp_path.iterdir())


def test_gpus_the_cluster_lacks_are_refused(ray_cluster: Path) -> None:
    from evolstm.environment import policy_spec
    from evolstm.evaluation.ray import RayEvaluator

    experiment = make_experiment(evaluation={"backend": "ray", "workers": 1, "gpus_per_worker": 1.0})
    with pytest.raises(
        ConfigError, match=r"evaluation.gpus_per_worker: each worker asks for 1.0 GPU\(s\); the cluster"
    ):
        RayEvaluator(experiment, policy_spec(experiment.task, experiment.policy))


DRIVER = (
    "from evolstm.config import RayConfig; from evolstm.evaluation.cluster import connect; import time; "
    "connect(RayConfig(num_cpus=1)); print('up', flush=True); time.sleep(120)"
)


def _agents_of(group: int) -> set[int]:
    """Ray agent processes in a process group."""
    from evolstm.evaluation.cluster import AGENT_TITLES, _cmdline

    found = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.getpgid(int(proc.name)) == group and _cmdline(proc) in AGENT_TITLES:
                found.add(int(proc.name))
        except OSError:
            continue
    return found


def _wait(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_agents_left_by_a_killed_driver_are_stopped_by_the_next_private_cluster(ray_cluster: Path) -> None:
    from evolstm.evaluation.cluster import orphaned_agents, stop_orphaned_agents

    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert driver.stdout.readline().strip() == "up"
    assert _wait(lambda: len(_agents_of(driver.pid)) == 2), "the private cluster started no agents"
    agents = _agents_of(driver.pid)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    assert _wait(lambda: agents <= set(orphaned_agents())), "Ray stopped its agents itself: the cleanup is moot"
    assert set(stop_orphaned_agents()) >= agents
    assert _wait(lambda: not _agents_of(driver.pid), timeout=10)
    assert ray.is_initialized() and ray.cluster_resources().get("CPU")  # this session's own cluster was left alone
