"""Joining or starting the Ray cluster an experiment names, and cleaning up after private clusters whose driver was
killed: Ray 2.60 then stops its GCS, raylet and workers, but its DashboardAgent and RuntimeEnvAgent live on (adopted
by init, listening on loopback); the next private cluster of this user stops them."""

from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import ray

from evolstm.config import ConfigError, RayConfig
from evolstm.evaluation import ClusterError

#: where evolstm's private clusters keep their sessions (Ray's default is /tmp/ray, shared with every other user)
TEMP_DIR = Path(tempfile.gettempdir()) / f"ray-evolstm-{os.getuid()}"
AGENT_TITLES = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def connect(cfg: RayConfig) -> None:
    """Join or start the cluster `cfg` names, once per process; an address that cannot be right is a ConfigError,
    one that does not answer a ClusterError (each one line)."""
    if ray.is_initialized():
        return
    address = cfg.address or os.environ.get("RAY_ADDRESS")  # inside `ray job submit` the job's cluster
    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except ValueError as err:
            raise ConfigError(f"ray.address: {address!r} is not a Ray address ({err})") from None
        except ConnectionError as err:
            raise ClusterError(f"cannot reach the Ray cluster at {address} ({err})") from None
        return
    # A private single-node cluster: advertise and bind loopback only (Ray otherwise picks the outward address),
    # and run workers at normal priority: at Ray's default niceness 15 two workers on 2 cores ran ~30% slower each.
    # Its session lives under evolstm's own temp folder, so that agents a killed driver left behind can be told apart.
    stop_orphaned_agents()
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            _temp_dir=str(TEMP_DIR),
            address="local",
            num_cpus=cfg.num_cpus or os.cpu_count(),
            include_dashboard=cfg.include_dashboard,
            log_to_driver=False,
            logging_level=logging.ERROR,  # not its notice that token authentication is on: stderr is for errors
            _system_config={"worker_niceness": 0},
        )
    except Exception as err:  # Ray's own start-up failures (a node that timed out, ports taken) are generic
        raise ClusterError(f"cannot start a private Ray cluster ({' '.join(str(err).split())[:200]})") from None


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A host:port address (or ray://host:port) whose port does not accept a connection within `timeout` seconds is
    a ClusterError now, not a hang (Ray itself retries a dead head for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")  # an IPv6 literal
    if address == "auto" or not sep or not port.isdigit():
        return  # "auto" and malformed addresses: Ray's own answer is quick
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise ClusterError(f"cannot reach the Ray cluster at {address} ({err.strerror or err})") from None


def orphaned_agents(temp_dir: Path = TEMP_DIR) -> Iterator[int]:
    """Process ids of Ray agents of this user that hold files of a session under `temp_dir` and whose raylet is gone
    (their parent is no longer a raylet): what a killed driver of an evolstm private cluster leaves behind."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != os.getuid() or _cmdline(proc) not in AGENT_TITLES:
                continue
            parent = Path("/proc") / (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            if "raylet" in _cmdline(parent):
                continue  # a live cluster's agent
            if any(os.readlink(fd).startswith(str(temp_dir)) for fd in (proc / "fd").iterdir()):
                yield int(proc.name)
        except (OSError, IndexError):  # the process ended while being looked at, or is not ours to read
            continue


def stop_orphaned_agents(temp_dir: Path = TEMP_DIR) -> list[int]:
    """SIGKILL the orphaned agents of earlier private clusters (by process id, each checked as above)."""
    stopped = []
    for pid in orphaned_agents(temp_dir):
        try:
            os.kill(pid, signal.SIGKILL)
            stopped.append(pid)
        except ProcessLookupError:
            continue
    return stopped


def _cmdline(proc: Path) -> str:
    return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
