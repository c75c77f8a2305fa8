"""One shutdown deadline for the whole gateway: every queue that drains at
SIGTERM drains until the same instant, `shutdown_timeout` after the stop
began, also a queue that drains after another one (the load balancer's
endpoint queues drain after the exporter's own queue). Each used to get a
deadline of its own, so such a stop took twice `shutdown_timeout`.
"""

from __future__ import annotations

import socket

from e2e_helpers import request_with_spans

SHUTDOWN_TIMEOUT_S = 3


def refused_port() -> int:
    """A loopback port nothing listens on: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_queues_behind_queues_drain_until_one_deadline(gateway):
    fast_retry = {"initial_interval": "100ms", "max_interval": "200ms"}
    gw = gateway({
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:{port}"}}}},
        "exporters": {"loadbalancing": {
            "retry_on_failure": fast_retry,
            "resolver": {"static": {"hostnames": [f"127.0.0.1:{refused_port()}"]}},
            # Room for one request: the first waits (retrying) in the endpoint's
            # queue, the second (retrying) in the exporter's own queue.
            "protocol": {"otlphttp": {"sending_queue": {"queue_size": 150}, "retry_on_failure": fast_retry}},
        }},
        "service": {
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": [], "exporters": ["loadbalancing"]}},
            "telemetry": {"logs": {"level": "info"}, "shutdown_timeout": f"{SHUTDOWN_TIMEOUT_S}s",
                          "metrics": {"address": "127.0.0.1:0"}, "health": {"address": "127.0.0.1:0"}},
        },
    })
    for _ in range(2):
        body, _ = request_with_spans(100)
        assert gw.post(body).status_code == 200
    assert gw.stop() == 0
    # Both queues gave up at the one deadline: one shutdown_timeout, not two
    # (the bound leaves a second for a slow machine).
    assert gw.stop_seconds < 2 * SHUTDOWN_TIMEOUT_S - 1, gw.log_tail()
    assert gw.stop_seconds >= SHUTDOWN_TIMEOUT_S - 0.5, gw.log_tail()
    log = gw.log_text()
    assert "shutdown deadline passed" in log
    assert "loadbalancing/127.0.0.1" in log  # the endpoint queue's spans are accounted for too
