"""Fan-out isolation: one pipeline, two exporters, each with its own sending
queue. When one exporter's endpoint hangs (accepts connections and never
answers), the other exporter still gets every span, without waiting for it.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest

from e2e_helpers import gateway_config, post_new_spans, request_with_spans, wait_until


class HangingEndpoint:
    """A TCP server on loopback that accepts connections, reads what comes,
    and never answers: the worst downstream an exporter can have."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.connections: list[socket.socket] = []
        self.bytes_received = 0
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        while not self.closed.is_set():
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.bytes_received += len(data)

    def close(self) -> None:
        self.closed.set()
        for c in [self.sock, *self.connections]:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def hanging() -> Iterator[HangingEndpoint]:
    endpoint = HangingEndpoint()
    yield endpoint
    endpoint.close()


def test_a_hanging_exporter_does_not_stall_the_other_exporter_of_its_pipeline(db, gateway, hanging):
    config = gateway_config(db.dsn, shutdown_timeout="1s")
    config["exporters"]["otlphttp/stuck"] = {
        "endpoint": hanging.url, "timeout": "60s", "compression": "none",
        "sending_queue": {"num_consumers": 1, "queue_size": 100000},
    }
    config["service"]["pipelines"]["traces"]["exporters"] = ["postgres", "otlphttp/stuck"]
    gw = gateway(config)

    sent = post_new_spans(gw, 20, 100)

    # Every span reaches PostgreSQL while the other exporter is stuck in its
    # first request (its endpoint has the bytes of that request and nothing
    # has been answered).
    db.wait_for_spans(len(sent), timeout=20)
    assert set(db.stored_keys()) == sent
    wait_until(lambda: hanging.bytes_received > 0, 10, "the stuck exporter's first request")

    # More spans keep flowing to PostgreSQL while it is still stuck.
    body, keys = request_with_spans(50)
    started = time.monotonic()
    assert gw.post(body).status_code == 200
    db.wait_for_spans(len(sent) + 50, timeout=10)
    assert time.monotonic() - started < 10
    assert keys <= set(db.stored_keys())

    # Shutdown gives up on the stuck exporter after shutdown_timeout, says so,
    # and exits 0.
    assert gw.stop() == 0
    assert "shutdown deadline passed" in gw.log_text()
