"""Live reload: SIGHUP and `run --watch` reread the file and apply it while
clients keep sending; an invalid file changes nothing. Every span a client
got a 200 for is stored exactly once, and no client sees a refused
connection or a refused request across the reloads."""

from __future__ import annotations

import copy
import signal
import socket
import threading
import time

import requests

from e2e_helpers import gateway_config, request_with_spans, to_yaml


class SteadyClient(threading.Thread):
    """Sends 20-span requests on keep-alive connections (and opens a new
    connection every tenth request), recording every answer."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.acked: set[tuple[str, str]] = set()
        self.problems: list[str] = []
        self.requests = 0

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            if self.requests % 10 == 0:
                session.close()
                session = requests.Session()
            body, keys = request_with_spans(20)
            try:
                r = session.post(self.url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10)
            except requests.RequestException as e:
                self.problems.append(f"request failed: {e}")
                continue
            self.requests += 1
            if r.status_code == 200:
                self.acked |= keys
            else:
                self.problems.append(f"status {r.status_code}: {r.content[:200]!r}")
            time.sleep(0.005)


def reload_with(gw, config: dict | str, *, expect: str) -> None:
    gw.config_path.write_text(config if isinstance(config, str) else to_yaml(config), encoding="utf-8")
    before = gw.log_text().count(expect)
    gw.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while gw.log_text().count(expect) <= before:
        assert time.monotonic() < deadline, f"no {expect!r} after SIGHUP:\n{gw.log_tail()}"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_port(config: dict, port: int) -> dict:
    # A fixed port, so that the reloaded file names the same listener.
    config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] = f"127.0.0.1:{port}"
    return config


def test_reloads_under_load_lose_nothing_and_refuse_no_client(gateway, db):
    config = with_port(gateway_config(db.dsn, batch_timeout="100ms", shutdown_timeout="20s"), free_port())
    gw = gateway.start(config)
    clients = [SteadyClient(gw.traces_url) for _ in range(3)]
    for c in clients:
        c.start()
    time.sleep(1.0)

    # 1. Processors change: the batch processor is rebuilt, the exporter kept.
    config["processors"]["batch"]["timeout"] = "30ms"
    reload_with(gw, config, expect="configuration reloaded")
    assert "exporters_kept=1" in gw.log_text()
    time.sleep(0.7)

    # 2. An exporter added beside it.
    config["exporters"]["debug"] = {"verbosity": "basic", "sampling_initial": 1, "sampling_thereafter": 1000}
    config["service"]["pipelines"]["traces"]["exporters"] = ["postgres", "debug"]
    reload_with(gw, config, expect="configuration reloaded")
    time.sleep(0.7)

    # 3. The postgres exporter itself changed: a new one (new queue, new
    # connections) starts before the old one drains.
    config["exporters"]["postgres"]["sending_queue"] = {"num_consumers": 3}
    reload_with(gw, config, expect="configuration reloaded")
    time.sleep(0.7)

    # 4. An invalid file: refused with file, line and key; nothing changes.
    broken = copy.deepcopy(config)
    broken["processors"]["batch"]["timeout"] = "soon"
    reload_with(gw, broken, expect="configuration not reloaded")
    assert f"reload refused: {gw.config_path}:" in gw.log_text()
    assert "processors.batch.timeout: expected a duration" in gw.log_text()
    time.sleep(0.7)

    # 5. A receiver's settings on its own address: applied to new
    # connections, the socket kept (the clients reconnect every tenth request).
    config["receivers"]["otlp"]["protocols"]["http"]["max_request_body_size"] = "8MiB"
    reload_with(gw, config, expect="configuration reloaded")
    assert "OTLP/HTTP receiver settings replaced" in gw.log_text()
    time.sleep(0.7)

    for c in clients:
        c.stop.set()
    for c in clients:
        c.join(timeout=15)
    metrics = requests.get(gw.metrics_url, timeout=5).text
    assert 'tracegate_config_reloads_total{result="applied"} 4' in metrics, metrics
    assert 'tracegate_config_reloads_total{result="failed"} 1' in metrics

    # 6. A new address: the new listener binds before the old one closes.
    new_port = free_port()
    config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] = f"127.0.0.1:{new_port}"
    reload_with(gw, config, expect="configuration reloaded")
    body, keys = request_with_spans(3)
    r = requests.post(f"http://127.0.0.1:{new_port}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert r.status_code == 200
    for c in clients:
        c.acked |= keys if c is clients[0] else set()
    try:
        requests.post(gw.traces_url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=5)
        raise AssertionError("the old address still answers")
    except requests.ConnectionError:
        pass
    assert gw.stop() == 0

    problems = [p for c in clients for p in c.problems]
    assert not problems, problems[:5]
    acked = set().union(*(c.acked for c in clients))
    assert sum(c.requests for c in clients) > 100, "the clients kept sending through the reloads"
    stored = db.stored_keys()
    assert len(stored) == len(set(stored)), "a span was stored twice"
    assert set(stored) == acked


def test_watch_applies_a_changed_file(gateway):
    config = with_port(gateway_config(None, batch_timeout="50ms"), free_port())
    gw = gateway.start(config, extra_args=["--watch"])
    config["exporters"]["debug"] = {"verbosity": "normal"}
    config["service"]["pipelines"]["traces"]["exporters"] = ["nop", "debug"]
    # Written elsewhere and renamed over it, as editors do.
    staged = gw.config_path.with_suffix(".new")
    staged.write_text(to_yaml(config), encoding="utf-8")
    staged.replace(gw.config_path)
    gw.wait_for_log("configuration reloaded", timeout=15)
    body, keys = request_with_spans(2, service_name="watched")
    assert requests.post(gw.traces_url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10).status_code == 200
    gw.wait_for_log("service.name=watched", timeout=10)


def test_tokens_rotate_without_a_restart(gateway):
    config = with_port(gateway_config(None, batch_timeout="50ms"), free_port())
    config["receivers"]["otlp"]["auth"] = {"bearer_tokens": ["old-token"]}
    gw = gateway.start(config)
    body, _ = request_with_spans(1)

    def post(token: str) -> int:
        return requests.post(gw.traces_url, data=body, timeout=10,
                             headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}).status_code

    assert (post("old-token"), post("new-token")) == (200, 401)
    config["receivers"]["otlp"]["auth"] = {"bearer_tokens": {"acme": "new-token"}}
    reload_with(gw, config, expect="configuration reloaded")
    assert (post("old-token"), post("new-token")) == (401, 200)


def test_a_persistent_exporter_changes_behind_its_queue(gateway, db, tmp_path):
    config = with_port(gateway_config(db.dsn, batch_timeout="50ms"), free_port())
    config["exporters"]["postgres"]["sending_queue"] = {"persistent": True, "directory": str(tmp_path / "queue")}
    gw = gateway.start(config)
    first, first_keys = request_with_spans(5)
    assert gw.post(first).status_code == 200
    # The exporter's own settings: a new exporter behind the same write-ahead log.
    config["exporters"]["postgres"]["connect_timeout"] = "3s"
    reload_with(gw, config, expect="configuration reloaded")
    assert "exporters_started=1" in gw.log_text()
    second, second_keys = request_with_spans(5)
    assert gw.post(second).status_code == 200
    # Its queue's settings: refused, named.
    config["exporters"]["postgres"]["sending_queue"]["queue_size"] = 1000
    reload_with(gw, config, expect="configuration not reloaded")
    assert "exporters.postgres: the sending_queue and retry_on_failure of an exporter with a persistent queue" in gw.log_text()
    db.wait_for_spans(10, timeout=20)
    assert set(db.stored_keys()) == first_keys | second_keys
    assert gw.stop() == 0
