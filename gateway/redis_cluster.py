"""A real Redis Cluster on loopback: masters started from the same ``redis-server`` binary as
the embedded default, each given an equal range of the 16 384 hash slots.

Used by the cluster tests and benches (``redis+cluster://`` URLs, see
:mod:`gateway.redis_client`); a deployment runs its own cluster.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import redis

from gateway.errors import GatewayError
from gateway.redis_server import EmbeddedRedis, free_port

SLOTS = 16384


BUS_OFFSET = 10000  # a node's cluster bus listens on its port + 10 000


def cluster_port() -> int:
    """A free port whose cluster-bus port (+10 000) is valid and free too."""
    for _ in range(200):
        port = free_port()
        if port + BUS_OFFSET > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port + BUS_OFFSET))
            except OSError:
                continue
        return port
    raise GatewayError("no free port pair (port, port + 10000) for a cluster node")


class LocalCluster:
    """``masters`` redis-server processes in cluster mode, slots split evenly, no replicas."""

    def __init__(self, data_dir: Path, masters: int = 3) -> None:
        self.nodes = [
            EmbeddedRedis(
                data_dir / f"node{i}",
                port=cluster_port(),
                appendonly=True,
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ),
            )
            for i in range(masters)
        ]

    @property
    def url(self) -> str:
        """The URL abgate processes take: any node; the client discovers the rest."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout_s: float = 20.0) -> LocalCluster:
        for node in self.nodes:
            node.start()
        try:
            self._form(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _form(self, timeout_s: float) -> None:
        clients = [redis.Redis(port=n.port, socket_timeout=5.0) for n in self.nodes]
        try:
            share = SLOTS // len(self.nodes)
            for i, client in enumerate(clients):
                last = SLOTS if i == len(clients) - 1 else (i + 1) * share
                cast(Any, client).execute_command("CLUSTER ADDSLOTS", *range(i * share, last))
            for node in self.nodes[1:]:
                cast(Any, clients[0]).execute_command("CLUSTER MEET", "127.0.0.1", node.port)
            deadline = time.monotonic() + timeout_s
            for _ in range(int(timeout_s / 0.05) + 1):
                infos = [c.cluster("INFO") for c in clients]  # parsed: {field: value}
                if all(
                    str(i.get("cluster_state")) == "ok"
                    and int(i.get("cluster_known_nodes", 0)) == len(clients)
                    for i in infos
                ):
                    return
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            raise GatewayError(f"local Redis Cluster did not form in {timeout_s} s")
        finally:
            for client in clients:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
