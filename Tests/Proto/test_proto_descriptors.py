"""Check that the hand-written OTLP protos in proto/ match the official ones.

The reference is the descriptor set shipped inside the pinned
``opentelemetry-proto`` Python package (see Tests/requirements.txt). Ours is
produced by compiling proto/ with ``protoc --include_imports
--descriptor_set_out``. Comments, options (go_package, java_*) and source
info are ignored; everything that affects the wire format or the JSON
mapping is compared.

Set TRACEGATE_PROTO_DIR to compare a different proto tree (e.g. a scratch
copy) instead of <repo>/proto.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = Path(os.environ.get("TRACEGATE_PROTO_DIR", REPO_ROOT / "proto"))

# proto file (relative to proto/) -> reference module from opentelemetry-proto
REFERENCE_MODULES = {
    "opentelemetry/proto/common/v1/common.proto": common_pb2,
    "opentelemetry/proto/resource/v1/resource.proto": resource_pb2,
    "opentelemetry/proto/trace/v1/trace.proto": trace_pb2,
    "opentelemetry/proto/collector/trace/v1/trace_service.proto": trace_service_pb2,
}

# The one deliberate difference: every string field Tracegate reads is
# declared `bytes` in proto/. The wire format is the same (length-delimited),
# but protobuf-c hands `string` over NUL-terminated, cutting a string at its
# first NUL, while `bytes` comes with its length; the decoder then repairs a
# NUL or invalid UTF-8 to U+FFFD and keeps the rest (docs/configuration.md,
# "Strings"). The JSON mapping (base64 for bytes) is not affected: OTLP/JSON is
# read and written by Tracegate's own code, not from these descriptors.
STRING_AS_BYTES = {
    ".opentelemetry.proto.common.v1.AnyValue.string_value",
    ".opentelemetry.proto.common.v1.KeyValue.key",
    ".opentelemetry.proto.common.v1.InstrumentationScope.name",
    ".opentelemetry.proto.common.v1.InstrumentationScope.version",
    ".opentelemetry.proto.trace.v1.ResourceSpans.schema_url",
    ".opentelemetry.proto.trace.v1.ScopeSpans.schema_url",
    ".opentelemetry.proto.trace.v1.Span.trace_state",
    ".opentelemetry.proto.trace.v1.Span.name",
    ".opentelemetry.proto.trace.v1.Span.Event.name",
    ".opentelemetry.proto.trace.v1.Span.Link.trace_state",
    ".opentelemetry.proto.trace.v1.Status.message",
}

# And the composite values of AnyValue: declared `bytes` (same wire format)
# so that protobuf-c, which has no recursion limit, never recurses into a
# nested value; the decoder unpacks ArrayValue / KeyValueList one level at a
# time and refuses a request nested past 100 levels (NestingLimit.swift).
MESSAGE_AS_BYTES = {
    ".opentelemetry.proto.common.v1.AnyValue.array_value",
    ".opentelemetry.proto.common.v1.AnyValue.kvlist_value",
}

FDP = descriptor_pb2.FieldDescriptorProto
TYPE_NAMES = {v: k for k, v in FDP.Type.items()}
LABEL_NAMES = {v: k for k, v in FDP.Label.items()}


def default_json_name(name: str) -> str:
    """protoc's default JSON name: drop '_' and upper-case the next letter."""
    out = []
    upper_next = False
    for ch in name:
        if ch == "_":
            upper_next = True
        elif upper_next:
            out.append(ch.upper())
            upper_next = False
        else:
            out.append(ch)
    return "".join(out)


def flatten_file(fdp: descriptor_pb2.FileDescriptorProto) -> dict[str, dict[str, object]]:
    """Turn a file descriptor into {item path: {attribute: value}}.

    Item paths look like "message .pkg.Msg", "field .pkg.Msg.name",
    "enum .pkg.E", "enum value .pkg.E.NAME", "service .pkg.S",
    "method .pkg.S.Name", "file".
    """
    items: dict[str, dict[str, object]] = {}
    items["file"] = {
        "package": fdp.package,
        "syntax": fdp.syntax or "proto2",
        "dependencies": tuple(sorted(fdp.dependency)),
        "public_dependencies": tuple(sorted(fdp.dependency[i] for i in fdp.public_dependency)),
    }
    prefix = "." + fdp.package if fdp.package else ""

    def add_enum(e: descriptor_pb2.EnumDescriptorProto, scope: str) -> None:
        full = f"{scope}.{e.name}"
        items[f"enum {full}"] = {
            "reserved_ranges": tuple((r.start, r.end) for r in e.reserved_range),
            "reserved_names": tuple(e.reserved_name),
        }
        for v in e.value:
            items[f"enum value {full}.{v.name}"] = {"number": v.number}

    def add_message(m: descriptor_pb2.DescriptorProto, scope: str) -> None:
        full = f"{scope}.{m.name}"
        items[f"message {full}"] = {
            "oneofs": tuple(o.name for o in m.oneof_decl),
            "reserved_ranges": tuple((r.start, r.end) for r in m.reserved_range),
            "reserved_names": tuple(m.reserved_name),
            "extension_ranges": tuple((r.start, r.end) for r in m.extension_range),
            "map_entry": m.options.map_entry,
        }
        for f in m.field:
            attrs: dict[str, object] = {
                "number": f.number,
                "type": TYPE_NAMES.get(f.type, f.type),
                "type_name": f.type_name,
                "label": LABEL_NAMES.get(f.label, f.label),
                "proto3_optional": f.proto3_optional,
                "oneof_index": f.oneof_index if f.HasField("oneof_index") else None,
                "oneof": m.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None,
                # protoc fills json_name in; the Python runtime leaves it out
                # unless set explicitly, so compare the effective name.
                "json_name": f.json_name if f.json_name else default_json_name(f.name),
                "default_value": f.default_value,
                "packed": f.options.packed if f.options.HasField("packed") else None,
                "deprecated": f.options.deprecated,
            }
            items[f"field {full}.{f.name}"] = attrs
        for e in m.enum_type:
            add_enum(e, full)
        for n in m.nested_type:
            add_message(n, full)

    for e in fdp.enum_type:
        add_enum(e, prefix)
    for m in fdp.message_type:
        add_message(m, prefix)
    for s in fdp.service:
        full = f"{prefix}.{s.name}"
        items[f"service {full}"] = {}
        for meth in s.method:
            items[f"method {full}.{meth.name}"] = {
                "input_type": meth.input_type,
                "output_type": meth.output_type,
                "client_streaming": meth.client_streaming,
                "server_streaming": meth.server_streaming,
            }
    return items


def diff_files(
    ours: descriptor_pb2.FileDescriptorProto, reference: descriptor_pb2.FileDescriptorProto
) -> list[str]:
    """All differences between two file descriptors, one readable line each."""
    a = flatten_file(ours)
    b = flatten_file(reference)
    problems: list[str] = []
    for key in sorted(b.keys() - a.keys()):
        problems.append(f"missing in ours: {key}  (reference: {b[key]})")
    for key in sorted(a.keys() - b.keys()):
        problems.append(f"extra in ours: {key}  (ours: {a[key]})")
    for key in sorted(a.keys() & b.keys()):
        for attr in sorted(a[key].keys() | b[key].keys()):
            va, vb = a[key].get(attr), b[key].get(attr)
            if (
                attr == "type"
                and key.startswith("field ")
                and key[len("field "):] in STRING_AS_BYTES
                and (va, vb) == ("TYPE_BYTES", "TYPE_STRING")
            ):
                continue
            if key.startswith("field ") and key[len("field "):] in MESSAGE_AS_BYTES and (
                (attr == "type" and (va, vb) == ("TYPE_BYTES", "TYPE_MESSAGE"))
                or (attr == "type_name" and not va and vb in (
                    ".opentelemetry.proto.common.v1.ArrayValue", ".opentelemetry.proto.common.v1.KeyValueList"))
            ):
                continue
            if va != vb:
                problems.append(f"changed: {key}: {attr}: ours={va!r} reference={vb!r}")
    return problems


def compile_descriptor_set(proto_dir: Path, out: Path) -> descriptor_pb2.FileDescriptorSet:
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.fail("protoc not found on PATH (Debian: apt-get install protobuf-compiler)")
    files = sorted(REFERENCE_MODULES)
    missing = [f for f in files if not (proto_dir / f).is_file()]
    assert not missing, f"proto files missing under {proto_dir}: {missing}"
    result = subprocess.run(
        [protoc, f"-I{proto_dir}", "--include_imports", f"--descriptor_set_out={out}", *files],
        cwd=proto_dir,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"protoc failed:\n{result.stderr}"
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(out.read_bytes())
    return fds


@pytest.fixture(scope="module")
def our_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    out = tmp_path_factory.mktemp("descriptors") / "otlp.binpb"
    fds = compile_descriptor_set(PROTO_DIR, out)
    return {f.name: f for f in fds.file}


def reference_file(name: str) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto()
    REFERENCE_MODULES[name].DESCRIPTOR.CopyToProto(fdp)
    return fdp


@pytest.mark.parametrize("name", sorted(REFERENCE_MODULES))
def test_proto_matches_reference(name: str, our_files: dict[str, descriptor_pb2.FileDescriptorProto]) -> None:
    assert name in our_files, f"{name} not in compiled descriptor set: {sorted(our_files)}"
    ref = reference_file(name)
    assert ref.name == name
    problems = diff_files(our_files[name], ref)
    if problems:
        pytest.fail(
            f"{len(problems)} difference(s) between proto/{name} and opentelemetry-proto:\n  "
            + "\n  ".join(problems),
            pytrace=False,
        )


def test_string_fields_declared_bytes_are_exactly_the_listed_ones(
    our_files: dict[str, descriptor_pb2.FileDescriptorProto],
) -> None:
    declared = set()
    for name, fdp in our_files.items():
        for path, attrs in flatten_file(fdp).items():
            if path.startswith("field ") and attrs.get("type") == "TYPE_BYTES":
                declared.add(path[len("field "):])
    reference_bytes = set()
    for name in REFERENCE_MODULES:
        for path, attrs in flatten_file(reference_file(name)).items():
            if path.startswith("field ") and attrs.get("type") == "TYPE_BYTES":
                reference_bytes.add(path[len("field "):])
    assert declared - reference_bytes == STRING_AS_BYTES | MESSAGE_AS_BYTES


def test_descriptor_set_has_no_unexpected_files(
    our_files: dict[str, descriptor_pb2.FileDescriptorProto],
) -> None:
    extra = sorted(set(our_files) - set(REFERENCE_MODULES))
    assert not extra, f"proto/ pulls in files with no reference to check against: {extra}"


def test_diff_detects_changes() -> None:
    """Self-test of the comparison: a renumbered field must be reported."""
    name = "opentelemetry/proto/trace/v1/trace.proto"
    ref = reference_file(name)
    broken = descriptor_pb2.FileDescriptorProto()
    broken.CopyFrom(ref)
    span = next(m for m in broken.message_type if m.name == "Span")
    flags = next(f for f in span.field if f.name == "flags")
    flags.number = 17
    problems = diff_files(broken, ref)
    assert problems == [
        "changed: field .opentelemetry.proto.trace.v1.Span.flags: number: ours=17 reference=16"
    ]


def test_generated_sources_are_fresh() -> None:
    if shutil.which("protoc-c") is None:
        pytest.fail("protoc-c not found on PATH (Debian: apt-get install protobuf-c-compiler)")
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "gen-proto"), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"scripts/gen-proto --check exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
