"""A two-node Ray cluster on the loopback address, started and stopped by the tests and benchmarks that use it.

The head is `ray start --head --node-ip-address 127.0.0.1` with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, so Ray keeps
it on 127.0.0.1 (its GCS and raylet listen there only). Ray 2.60's `ray start --address` cannot add a second node
on loopback: under that switch it refuses ("Multi-node Ray clusters are not supported on Windows and OSX"), and
without it, it replaces 127.0.0.1 by the machine's routable address (`services.resolve_ip_for_localhost`), where
GCS and raylet then listen on 0.0.0.0. So the second node is started as `ray start --address ADDRESS --block`
starts one once past those checks, and as Ray's `ray.cluster_utils.Cluster` adds nodes for its own multi-node
tests: a `ray._private.node.Node` with node IP 127.0.0.1, in `python -m tests.ray_cluster ADDRESS CPUS`.
Every process runs in its own session, so killing a node's process group kills all that node started.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

RAY = Path(sys.executable).with_name("ray")
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1"}
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Cluster:
    address: str  # 127.0.0.1:PORT of the head
    env: dict[str, str]  # for drivers: the cluster's token and the loopback switch
    head: subprocess.Popen
    worker: subprocess.Popen


def cluster_env() -> dict[str, str]:
    """This environment with a fresh Ray token, the loopback switch, no usage stats and no RAY_ADDRESS; jobs
    embed in float32, as the session's reference index (the `model` fixture) on any CPU."""
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "QA_APP_EMBEDDING_PRECISION": "float32"}  # fmt: skip
    env.pop("RAY_ADDRESS", None)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    quiet = subprocess.DEVNULL
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=quiet, stderr=quiet, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """SIGKILL a node and everything it started (they share its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def node_processes(node: subprocess.Popen) -> list[psutil.Process]:
    """The processes of a node: raylet, GCS, agents, and the workers and actors the raylet started."""
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(node.pid)
        return [root, *root.children(recursive=True)]
    return []


def listening_addresses(node: subprocess.Popen) -> set[str]:
    """The IP addresses that a node's processes accept connections on."""
    addresses = set()
    for process in node_processes(node):
        with contextlib.suppress(psutil.Error):
            addresses |= {c.laddr.ip for c in process.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    return addresses


def wait_for_nodes(address: str, env: dict[str, str], count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = subprocess.run([str(RAY), "status", "--address", address], env=env, capture_output=True, text=True)
        if status.returncode == 0 and status.stdout.split("Active:")[-1].split("Pending:")[0].count("node_") >= count:
            return
        time.sleep(1)
    raise AssertionError(f"the Ray cluster at {address} did not reach {count} nodes:\n{status.stdout}{status.stderr}")


@contextlib.contextmanager
def two_node_cluster(cpus_per_node: int = 1) -> Iterator[Cluster]:
    """A head and a second node on 127.0.0.1, `cpus_per_node` CPUs each, with their own token and folder."""
    temp = Path(tempfile.mkdtemp(prefix="qa-ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    env = cluster_env()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    cpus = str(cpus_per_node)
    nodes = [_spawn([str(RAY), "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                     "--include-dashboard", "false", "--temp-dir", str(temp), "--num-cpus", cpus, "--block",
                     "--disable-usage-stats"], env)]  # fmt: skip
    try:
        wait_for_nodes(address, env, 1)
        nodes.append(_spawn([sys.executable, "-m", "tests.ray_cluster", address, cpus], env))
        wait_for_nodes(address, env, 2)
        yield Cluster(address, env, nodes[0], nodes[1])
    finally:
        for node in reversed(nodes):
            stop(node)
        shutil.rmtree(temp, ignore_errors=True)


def _run_worker_node(address: str, cpus: int) -> None:
    """What `ray start --address ADDRESS --num-cpus CPUS --block` does past its checks, on 127.0.0.1."""
    import ray._private.node
    import ray._private.parameter

    params = ray._private.parameter.RayParams(node_ip_address="127.0.0.1", node_name="worker", gcs_address=address,
                                              num_cpus=cpus)  # fmt: skip
    node = ray._private.node.Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True, connect_only=False)
    while not node.dead_processes():  # as `ray start --block`: stop when one of the node's processes dies
        time.sleep(1)
    sys.exit(1)


if __name__ == "__main__":
    if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
        sys.exit("run with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, or Ray moves the node off 127.0.0.1")
    _run_worker_node(sys.argv[1], int(sys.argv[2]))
