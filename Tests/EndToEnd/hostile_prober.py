"""The well-behaved client of test_hostile_clients.py, in a process of its own
so that the attack threads of the test process (and their share of the GIL)
do not add to the latencies it measures.

    python hostile_prober.py http|grpc PORT

Sends a small valid export (10 spans) every 20 ms over one keep-alive
connection (HTTP/1.1) or one channel (gRPC), as an SDK exporter does, until
SIGTERM; then prints one JSON object: the answers seen (status codes, or
"error: ..." for a failed call) and the latency of each call in ms. A call
that fails is not retried: the test counts it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from e2e_helpers import make_request, make_spans  # noqa: E402

INTERVAL = 0.02
stopping = False


def on_term(signum, frame) -> None:
    global stopping
    stopping = True


def body() -> bytes:
    return make_request(make_spans(10, name="well-behaved")).SerializeToString()


def probe_http(port: int) -> tuple[list[str], list[float]]:
    answers, latencies = [], []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while not stopping:
        payload = body()
        started = time.perf_counter()
        try:
            conn.request("POST", "/v1/traces", body=payload, headers={"Content-Type": "application/x-protobuf"})
            response = conn.getresponse()
            response.read()
            answers.append(str(response.status))
        except (OSError, http.client.HTTPException) as e:
            answers.append(f"error: {type(e).__name__}: {e}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(INTERVAL)
    conn.close()
    return answers, latencies


def probe_grpc(port: int) -> tuple[list[str], list[float]]:
    import grpc

    answers, latencies = [], []
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.enable_retries", 0)])
    call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    grpc.channel_ready_future(channel).result(timeout=10)
    while not stopping:
        payload = body()
        started = time.perf_counter()
        try:
            call(payload, timeout=5)
            answers.append("OK")
        except grpc.RpcError as e:
            answers.append(f"error: {e.code()}: {e.details()}")
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(INTERVAL)
    channel.close()
    return answers, latencies


def main() -> None:
    signal.signal(signal.SIGTERM, on_term)
    protocol, port = sys.argv[1], int(sys.argv[2])
    answers, latencies = (probe_http if protocol == "http" else probe_grpc)(port)
    print(json.dumps({"answers": answers, "latencies_ms": latencies}), flush=True)


if __name__ == "__main__":
    main()
