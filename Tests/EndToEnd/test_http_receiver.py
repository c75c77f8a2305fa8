"""The OTLP/HTTP receiver of the real binary, driven over real sockets:
every status code of the OTLP/HTTP specification the gateway answers, the
bodies of those answers, size limits, gzip, keep-alive and concurrency."""

from __future__ import annotations

import gzip
import http.client
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from e2e_helpers import (
    PROTOBUF,
    RPC_INVALID_ARGUMENT,
    RPC_UNAVAILABLE,
    RPC_UNIMPLEMENTED,
    UNREACHABLE_DSN,
    assert_status_response,
    connection_closed_by_peer,
    decode_export_response,
    fixture_bytes,
    gateway_config,
    raw_connection,
    read_response,
    request_head,
    request_of_exact_size,
    request_with_spans,
)

SMALL_LIMIT = 64 * 1024  # max_request_body_size of the size-limit tests


@pytest.fixture
def nop_gateway(gateway):
    """A gateway whose pipeline ends in the nop exporter: for answers that store nothing."""
    return gateway.start(gateway_config(None))


@pytest.fixture
def pg_gateway(db, gateway):
    return gateway.start(gateway_config(db.dsn))


# ------------------------------------------------------------------------- 200


def test_empty_body_is_accepted_with_an_empty_response(nop_gateway):
    r = nop_gateway.post(b"")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == PROTOBUF
    assert r.content == b"", "an ExportTraceServiceResponse without partial success encodes to no bytes"
    assert not decode_export_response(r.content).HasField("partial_success")


def test_empty_fixture_request_is_accepted(nop_gateway):
    r = nop_gateway.post(fixture_bytes("empty.binpb"))
    assert r.status_code == 200
    assert not decode_export_response(r.content).HasField("partial_success")


def test_valid_request_is_acknowledged_and_stored(db, pg_gateway):
    body, keys = request_with_spans(3)
    r = pg_gateway.post(body)
    assert r.status_code == 200, r.content
    assert r.headers["Content-Type"] == PROTOBUF
    assert not decode_export_response(r.content).HasField("partial_success")
    db.wait_for_spans(3)
    assert sorted(db.stored_keys()) == sorted(keys)


@pytest.mark.parametrize(
    "content_type",
    ["application/protobuf", "application/x-protobuf; charset=binary", "Application/X-Protobuf"],
)
def test_accepts_protobuf_content_type_variants(nop_gateway, content_type):
    body, _ = request_with_spans(1)
    r = nop_gateway.post(body, content_type=content_type)
    assert r.status_code == 200, r.content


def test_query_string_on_the_traces_path_is_accepted(nop_gateway):
    body, _ = request_with_spans(1)
    r = requests.post(nop_gateway.traces_url + "?tenant=a", data=body, headers={"Content-Type": PROTOBUF}, timeout=10)
    assert r.status_code == 200, r.content


def test_partial_success_reports_rejected_spans_and_stores_the_valid_ones(db, pg_gateway):
    r = pg_gateway.post(fixture_bytes("invalid_spans.binpb"))
    assert r.status_code == 200, r.content
    assert r.headers["Content-Type"] == PROTOBUF
    response = decode_export_response(r.content)
    assert response.HasField("partial_success")
    assert response.partial_success.rejected_spans == 4
    message = response.partial_success.error_message
    assert re.search(r"\b4\b", message), f"the message gives the number of rejected spans: {message!r}"
    # The message explains the first rejections, with where they are.
    assert "trace_id is all zeros" in message, message
    assert "resource_spans[0].scope_spans[0].spans[2]" in message, message
    db.wait_for_spans(2)
    rows = db.query("SELECT name, encode(trace_id, 'hex'), encode(span_id, 'hex'), encode(parent_span_id, 'hex') "
                    "FROM trace_spans ORDER BY name")
    assert rows == [
        ("valid-1", "11" * 16, "2222222222222201", None),
        ("valid-2", "11" * 16, "2222222222222202", "2222222222222201"),
    ]


# ------------------------------------------------------------------------- 400


def test_rejects_undecodable_body_with_400(nop_gateway):
    r = nop_gateway.post(fixture_bytes("garbage.bin"))
    status = assert_status_response(r, 400, RPC_INVALID_ARGUMENT)
    assert status.message, "the Status explains what is wrong"


def _corrupt_crc(data: bytes) -> bytes:
    body = bytearray(gzip.compress(data))
    body[-8] ^= 0xFF  # CRC32 of the gzip trailer
    return bytes(body)


@pytest.mark.parametrize(
    "make_body",
    [
        pytest.param(lambda data: b"this is not gzip at all", id="not-gzip"),
        pytest.param(lambda data: gzip.compress(data)[: len(gzip.compress(data)) // 2], id="truncated"),
        pytest.param(_corrupt_crc, id="bad-crc"),
    ],
)
def test_rejects_corrupt_gzip_with_400(db, pg_gateway, make_body):
    body, _ = request_with_spans(5)
    r = pg_gateway.post(make_body(body), content_encoding="gzip")
    assert_status_response(r, 400, RPC_INVALID_ARGUMENT, ["gzip"])
    # Nothing of a rejected request is stored: prove it with a later request
    # that does land.
    ok_body, ok_keys = request_with_spans(1)
    assert pg_gateway.post(ok_body).status_code == 200
    db.wait_for_spans(1)
    assert db.stored_keys() == list(ok_keys)


# ------------------------------------------------------------------------- 404 / 405


@pytest.mark.parametrize("path", ["/v1/logs", "/", "/v1/traces/extra", "/v1/trace"])
def test_rejects_other_paths_with_404(nop_gateway, path):
    body, _ = request_with_spans(1)
    r = requests.post(nop_gateway.url + path, data=body, headers={"Content-Type": PROTOBUF}, timeout=10)
    assert_status_response(r, 404, RPC_UNIMPLEMENTED, [path, "/v1/traces"])


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_rejects_non_post_methods_with_405_and_allow_post(nop_gateway, method):
    r = requests.request(method, nop_gateway.traces_url, headers={"Content-Type": PROTOBUF}, timeout=10)
    assert_status_response(r, 405, RPC_UNIMPLEMENTED, [method, "POST"])
    assert r.headers.get("Allow") == "POST"


# ------------------------------------------------------------------------- 415


# application/json is OTLP/JSON, accepted (test_http_json.py).
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/octet-stream", None])
def test_rejects_wrong_content_type_with_415(nop_gateway, content_type):
    body, _ = request_with_spans(1)
    r = nop_gateway.post(body, content_type=content_type)
    assert_status_response(r, 415, RPC_INVALID_ARGUMENT, ["application/x-protobuf", "application/json"])


@pytest.mark.parametrize("encoding", ["br", "deflate", "zstd", "gzip, br"])
def test_rejects_unsupported_content_encoding_with_415(nop_gateway, encoding):
    body, _ = request_with_spans(1)
    r = nop_gateway.post(body, content_encoding=encoding)
    assert_status_response(r, 415, RPC_INVALID_ARGUMENT, ["Content-Encoding"])


# ------------------------------------------------------------------------- gzip


def test_gzip_body_is_accepted_and_stored(db, pg_gateway):
    body = fixture_bytes("many_spans.binpb")
    r = pg_gateway.post(gzip.compress(body), content_encoding="gzip")
    assert r.status_code == 200, r.content
    assert not decode_export_response(r.content).HasField("partial_success")
    db.wait_for_spans(1000)
    assert db.scalar("SELECT count(DISTINCT trace_id) FROM trace_spans") == 10
    assert db.query("SELECT service_name, count(*) FROM trace_spans GROUP BY 1 ORDER BY 1") == [
        ("checkout", 334), ("inventory", 333), ("payments", 333)]


def test_multi_member_gzip_body_is_decoded_completely(db, gateway):
    # RFC 1952: a gzip file is a series of members; gunzip, Go's and Python's
    # readers decode them all. Protobuf messages concatenate into one message,
    # so the two members together are one request with all five spans.
    # One consumer: batches are written in order (see the sentinel below).
    gw = gateway.start(gateway_config(db.dsn, num_consumers=1))
    first, first_keys = request_with_spans(2)
    second, second_keys = request_with_spans(3)
    r = gw.post(gzip.compress(first) + gzip.compress(second), content_encoding="gzip")
    assert r.status_code == 200, r.content
    # A sentinel behind it: once it is stored, the batch with the request was written too.
    sentinel, sentinel_keys = request_with_spans(1)
    assert gw.post(sentinel).status_code == 200
    db.wait_for_rows("SELECT 1 FROM trace_spans WHERE span_id = ('\\x' || %s)::bytea", 1,
                     params=(next(iter(sentinel_keys))[1],))
    stored = set(db.stored_keys())
    assert first_keys | second_keys <= stored, (
        f"acknowledged with 200 but only {len((first_keys | second_keys) & stored)} of 5 spans stored: "
        "the gzip members after the first were ignored")


def test_rejects_data_after_the_gzip_stream_with_400(nop_gateway):
    body, _ = request_with_spans(2)
    r = nop_gateway.post(gzip.compress(body) + b"trailing garbage", content_encoding="gzip")
    assert_status_response(r, 400, RPC_INVALID_ARGUMENT)


def test_identity_content_encoding_is_accepted(nop_gateway):
    body, _ = request_with_spans(2)
    assert nop_gateway.post(body, content_encoding="identity").status_code == 200


# ------------------------------------------------------------------------- 413


def test_rejects_gzip_bomb_with_413(nop_gateway):
    bomb = gzip.compress(b"\0" * (10 << 20))
    assert len(bomb) < 64 * 1024, "the bomb itself is small"
    r = nop_gateway.post(bomb, content_encoding="gzip")
    assert_status_response(r, 413, RPC_INVALID_ARGUMENT, ["decompressed", "max_request_body_size"])
    # The gateway is still fine afterwards.
    body, _ = request_with_spans(1)
    assert nop_gateway.post(body).status_code == 200


def test_rejects_content_length_over_the_limit_with_413_before_the_body(nop_gateway):
    limit = 4 << 20  # the default max_request_body_size
    with raw_connection(nop_gateway.port) as (sock, f):
        # Only the head is sent: the answer must not wait for the 4 MiB body.
        sock.sendall(request_head("POST", "/v1/traces",
                                  {"Content-Type": PROTOBUF, "Content-Length": str(limit + 1)}))
        response = read_response(f)
        assert_status_response(response, 413, RPC_INVALID_ARGUMENT, ["max_request_body_size", str(limit)])
        assert (response.header("connection") or "").lower() == "close"
        assert connection_closed_by_peer(sock, f), "the gateway must close the connection after a 413"


def test_rejects_chunked_body_over_the_limit_with_413(gateway):
    gw = gateway.start(gateway_config(None, max_request_body_size="1KiB"))
    with raw_connection(gw.port) as (sock, f):
        head = request_head("POST", "/v1/traces", {"Content-Type": PROTOBUF, "Transfer-Encoding": "chunked"})
        chunk1, chunk2 = b"\x0a" * 1000, b"\x0a" * 100
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(chunk1), chunk1) + b"%x\r\n%s\r\n" % (len(chunk2), chunk2))
        response = read_response(f)
        assert_status_response(response, 413, RPC_INVALID_ARGUMENT, ["max_request_body_size"])


def test_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_413(gateway):
    gw = gateway.start(gateway_config(None, max_request_body_size=SMALL_LIMIT))
    exact = request_of_exact_size(SMALL_LIMIT)
    assert len(exact) == SMALL_LIMIT
    r = gw.post(exact)
    assert r.status_code == 200, r.content
    over = request_of_exact_size(SMALL_LIMIT + 1)
    with raw_connection(gw.port) as (sock, f):
        sock.sendall(request_head("POST", "/v1/traces",
                                  {"Content-Type": PROTOBUF, "Content-Length": str(len(over))}))
        response = read_response(f)
    assert_status_response(response, 413, RPC_INVALID_ARGUMENT)


def test_gzip_body_decompressing_to_exactly_the_limit_is_accepted_and_one_byte_more_is_413(gateway):
    gw = gateway.start(gateway_config(None, max_request_body_size=SMALL_LIMIT))
    exact = gzip.compress(request_of_exact_size(SMALL_LIMIT))
    r = gw.post(exact, content_encoding="gzip")
    assert r.status_code == 200, f"{r.status_code} {r.content!r}"
    over = gzip.compress(request_of_exact_size(SMALL_LIMIT + 1))
    assert len(over) < SMALL_LIMIT
    r = gw.post(over, content_encoding="gzip")
    assert_status_response(r, 413, RPC_INVALID_ARGUMENT, ["decompressed"])


# ------------------------------------------------------------------------- 503


def test_full_sending_queue_answers_503_with_retry_after(gateway):
    # PostgreSQL that is not there: nothing can leave the queue of 10 spans.
    gw = gateway.start(gateway_config(UNREACHABLE_DSN, queue_size=10, shutdown_timeout="1s",
                                      retry={"initial_interval": "200ms", "max_interval": "1s"}))
    for _ in range(2):
        body, _ = request_with_spans(5)
        r = gw.post(body)
        assert r.status_code == 200, r.content
    body, _ = request_with_spans(1)
    r = gw.post(body)
    status = assert_status_response(r, 503, RPC_UNAVAILABLE, ["capacity"])
    assert status.message
    retry_after = r.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1, retry_after
    # A request without spans needs no room.
    assert gw.post(b"").status_code == 200
    # SIGTERM: the queue cannot drain, the gateway gives up after shutdown_timeout and still exits 0.
    assert gw.stop(timeout=15) == 0, gw.log_tail()
    assert "shutdown deadline passed" in gw.log_text(), gw.log_tail()


# ------------------------------------------------------------------------- connections


def test_keep_alive_connection_serves_several_requests(nop_gateway):
    conn = http.client.HTTPConnection("127.0.0.1", nop_gateway.port, timeout=10)
    try:
        local_ports = set()
        answers = []
        requests_to_send = [
            ("POST", "/v1/traces", request_with_spans(2)[0], PROTOBUF),
            ("POST", "/v1/traces", b"", PROTOBUF),
            ("POST", "/v1/traces", request_with_spans(1)[0], "text/plain"),  # 415 keeps the connection
            ("GET", "/v1/traces", b"", PROTOBUF),  # 405 too
            ("POST", "/nowhere", b"", PROTOBUF),  # 404 too
            ("POST", "/v1/traces", fixture_bytes("garbage.bin"), PROTOBUF),  # 400 too
            ("POST", "/v1/traces", request_with_spans(3)[0], PROTOBUF),
        ]
        for method, path, body, content_type in requests_to_send:
            conn.request(method, path, body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            response.read()
            answers.append(response.status)
            assert (response.getheader("Connection") or "").lower() != "close", (method, path, response.status)
            assert conn.sock is not None, f"the gateway closed the connection after {method} {path}"
            local_ports.add(conn.sock.getsockname()[1])
        assert answers == [200, 200, 415, 405, 404, 400, 200]
        assert len(local_ports) == 1, f"requests went over {len(local_ports)} connections"
    finally:
        conn.close()


def test_pipelined_requests_are_answered_in_order(nop_gateway):
    ok_body, _ = request_with_spans(2)
    garbage = fixture_bytes("garbage.bin")
    pipelined = (
        request_head("POST", "/v1/traces", {"Content-Type": PROTOBUF, "Content-Length": str(len(ok_body))}) + ok_body
        + request_head("GET", "/v1/traces", {})
        + request_head("POST", "/v1/traces", {"Content-Type": PROTOBUF, "Content-Length": str(len(garbage))}) + garbage
        + request_head("POST", "/v1/traces", {"Content-Type": PROTOBUF, "Content-Length": "0"})
    )
    with raw_connection(nop_gateway.port) as (sock, f):
        sock.sendall(pipelined)
        statuses = [read_response(f).status for _ in range(4)]
    assert statuses == [200, 405, 400, 200]


def test_http_1_0_request_is_answered_and_the_connection_closed(nop_gateway):
    body, _ = request_with_spans(2)
    with raw_connection(nop_gateway.port) as (sock, f):
        sock.sendall(f"POST /v1/traces HTTP/1.0\r\nContent-Type: {PROTOBUF}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        response = read_response(f)
        assert response.status == 200
        assert (response.header("connection") or "").lower() == "close"
        assert connection_closed_by_peer(sock, f)


def test_clients_disconnecting_mid_body_do_not_disturb_the_gateway(nop_gateway):
    for _ in range(10):
        with raw_connection(nop_gateway.port) as (sock, _f):
            sock.sendall(request_head("POST", "/v1/traces", {"Content-Type": PROTOBUF, "Content-Length": "1000"})
                         + b"\x0a" * 10)
    body, _ = request_with_spans(2)
    assert nop_gateway.post(body).status_code == 200


def test_many_concurrent_keep_alive_clients_are_all_stored_exactly_once(db, gateway):
    gw = gateway.start(gateway_config(db.dsn))
    threads, per_thread, spans_per_request = 16, 50, 5
    start = threading.Barrier(threads)

    def client(_: int):
        session = requests.Session()
        keys: set[tuple[str, str]] = set()
        statuses = []
        try:
            start.wait(timeout=30)
            for _ in range(per_thread):
                body, request_keys = request_with_spans(spans_per_request)
                r = session.post(gw.traces_url, data=body, headers={"Content-Type": PROTOBUF}, timeout=30)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    keys |= request_keys
            # urllib3 counts the connections each pool opened.
            pools = session.get_adapter(gw.traces_url).poolmanager.pools
            return statuses, keys, sum(pools[key].num_connections for key in pools.keys())
        finally:
            session.close()

    with ThreadPoolExecutor(max_workers=threads) as executor:
        results = list(executor.map(client, range(threads)))

    statuses = [s for r in results for s in r[0]]
    assert len(statuses) == threads * per_thread
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    connections = [r[2] for r in results]
    assert connections == [1] * threads, f"each client should reuse one keep-alive connection: {connections}"
    sent = set().union(*(r[1] for r in results))
    assert len(sent) == threads * per_thread * spans_per_request
    db.wait_for_spans(len(sent), timeout=30)
    stored = db.stored_keys()
    assert len(stored) == len(set(stored)), "a span is stored twice"
    assert set(stored) == sent
