#!/usr/bin/env python3
"""Structure-aware seeds for the two decoder fuzzers (scripts/fuzz), written
to Tests/Fixtures/fuzz/: nesting at and past the limit (100 levels below the
request), NUL bytes and invalid UTF-8 in strings, huge repeated counts, and
extreme numbers. Built by hand from the wire format, since the Python runtime
refuses messages nested that deep. Run it again after changing it:

    python3 Tests/Fixtures/make_fuzz_seeds.py
"""

from __future__ import annotations

import struct
from pathlib import Path

OUT = Path(__file__).resolve().parent / "fuzz"


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def ld(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def vi(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def f64(field: int, value: bytes) -> bytes:
    return varint(field << 3 | 1) + value


def span(name: bytes, attributes: list[bytes] = (), *, start: int = 1, end: int = 2, extra: bytes = b"") -> bytes:
    body = ld(1, bytes(range(1, 17))) + ld(2, bytes(range(1, 9))) + ld(5, name)
    body += f64(7, struct.pack("<Q", start)) + f64(8, struct.pack("<Q", end))
    for a in attributes:
        body += ld(9, a)
    return body + extra


def request(spans: list[bytes], resource: bytes = b"") -> bytes:
    scope = b"".join(ld(2, s) for s in spans)
    rs = (ld(1, resource) if resource else b"") + ld(2, scope)
    return ld(1, rs)


def kv(key: bytes, value: bytes) -> bytes:
    return ld(1, key) + ld(2, value)


def kvlists(levels: int) -> bytes:
    v = ld(1, b"x")
    for _ in range(levels):
        v = ld(6, ld(1, kv(b"k", v)))
    return v


def arrays(levels: int) -> bytes:
    v = ld(1, b"x")
    for _ in range(levels):
        v = ld(5, ld(1, v))
    return v


def json_kvlists(levels: int) -> str:
    v = '{"stringValue":"x"}'
    for _ in range(levels):
        v = '{"kvlistValue":{"values":[{"key":"k","value":' + v + "}]}}"
    return v


def json_request(attribute_value: str, name: str = "s") -> str:
    return ('{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"scope":{"name":"sc"},"spans":[{'
            '"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":' + name + ','
            '"startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"a","value":' + attribute_value + "}]}]}]}]}")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    seeds: dict[str, bytes] = {}
    # Nesting: kvlists add 3 levels each from level 5, arrays 2.
    for levels in (31, 32):
        seeds[f"kvlist_{levels}.binpb"] = request([span(b"deep", [kv(b"d", kvlists(levels))])])
    for levels in (47, 48):
        seeds[f"array_{levels}.binpb"] = request([span(b"deep", [kv(b"d", arrays(levels))])])
    seeds["kvlist_5000.binpb"] = request([span(b"deep", [kv(b"d", kvlists(5000))])])
    # Strings: NULs and invalid UTF-8 in names, keys and values, short and long.
    seeds["strings.binpb"] = request(
        [span(b"odd-nul\x00name", [kv(b"k\x00", ld(1, b"select 1\x00; drop")), kv(b"bad\xff", ld(1, b"\xe2\x82(" * 20)),
                                    kv(b"long", ld(1, b"\xf0\x9f\x98" + b"a" * 40))])],
        resource=ld(1, kv(b"service.name", ld(1, b"svc\x00"))))
    # Huge repeated counts: many empty spans and attributes.
    seeds["many_empty_spans.binpb"] = request([span(b"s%d" % i) for i in range(2000)])
    seeds["many_attributes.binpb"] = request([span(b"s", [kv(b"k%d" % i, vi(3, i)) for i in range(3000)])])
    # Extreme numbers: end before start, max timestamps, int64 min, NaN and
    # infinities, a huge dropped count, an unknown enum.
    extremes = [kv(b"int_min", vi(3, -(1 << 63))), kv(b"int_max", vi(3, (1 << 63) - 1)),
                kv(b"nan", f64(4, struct.pack("<d", float("nan")))), kv(b"inf", f64(4, struct.pack("<d", float("-inf"))))]
    seeds["extremes.binpb"] = request([
        span(b"max", extremes, start=(1 << 64) - 1, end=(1 << 64) - 1, extra=vi(10, (1 << 32) - 1) + vi(6, 99)),
        span(b"backwards", start=5, end=4),
    ])
    json_seeds = {
        "kvlist_31.json": json_request(json_kvlists(31)),
        "kvlist_32.json": json_request(json_kvlists(32)),
        "strings.json": json_request('{"stringValue":"select 1\\u0000; drop \\ud800 \\u00e9"}', name='"odd-nul\\u0000name"'),
        "extremes.json": json_request('{"intValue":"-9223372036854775808"}').replace('"2"', '"18446744073709551615"'),
    }
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
    for name, text in json_seeds.items():
        (OUT / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(seeds) + len(json_seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
