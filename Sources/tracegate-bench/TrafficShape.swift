import TracegateCore
import TracegateExporters
import TracegateOTLP

/// What the generated traffic looks like.
struct TrafficShape: Sendable {
    var spansPerRequest = 100
    var spansPerTrace = 10
    var attributesPerSpan = 8
    var attributeSize = 16
    var services = 3
    var errorRatio = 0.01

    var description: String {
        "\(spansPerRequest) spans/request, \(spansPerTrace) spans/trace, \(attributesPerSpan) attributes of \(attributeSize) B, \(services) services, \(Int(errorRatio * 100))% errors"
    }
}

/// How the generated requests are serialized.
enum PayloadEncoding: Sendable {
    /// `ExportTraceServiceRequest` in protobuf (OTLP/HTTP protobuf and gRPC).
    case protobuf
    /// OTLP/JSON: ids as hex strings.
    case json
}

/// Makes distinct OTLP requests cheaply: one request per service is encoded
/// once with marker ids; each new request copies it and overwrites the ids in
/// place (they are fixed-size fields, raw bytes in protobuf, hex digits in
/// JSON), so generating load costs a memcpy and a few hundred stores, not an
/// encode.
struct TrafficGenerator: Sendable {
    struct Template: Sendable {
        var bytes: [UInt8]
        /// Offsets of each trace's 16-byte id.
        var traceIDOffsets: [[Int]]
        /// Offsets of each span's 8-byte id, as span id and as parent id.
        var spanIDOffsets: [[Int]]
    }

    let shape: TrafficShape
    let encoding: PayloadEncoding
    let templates: [Template]
    let runNonce: UInt32

    init(shape: TrafficShape, encoding: PayloadEncoding = .protobuf) {
        self.shape = shape
        self.encoding = encoding
        self.runNonce = UInt32.random(in: 1...UInt32.max)
        var templates: [Template] = []
        for service in 0..<max(1, shape.services) {
            templates.append(Self.makeTemplate(shape: shape, service: service, encoding: encoding))
        }
        self.templates = templates
    }

    private static func makeTemplate(shape: TrafficShape, service: Int, encoding: PayloadEncoding) -> Template {
        var rng = SystemRandomNumberGenerator()
        let traces = max(1, (shape.spansPerRequest + shape.spansPerTrace - 1) / shape.spansPerTrace)
        let traceIDs = (0..<traces).map { _ in TraceID(high: rng.next(), low: rng.next()) }
        let spanIDs = (0..<shape.spansPerRequest).map { _ in SpanID(rng.next() | 1) }
        let value = String(repeating: "v", count: shape.attributeSize)
        // Spans start now, so that they land in today's partition.
        let start = UInt64(wallClockNanos())
        var spans: [Span] = []
        for i in 0..<shape.spansPerRequest {
            let traceIndex = i / shape.spansPerTrace
            let isRoot = i % shape.spansPerTrace == 0
            var attributes: [Attribute] = []
            for a in 0..<shape.attributesPerSpan {
                switch a % 4 {
                case 0: attributes.append(Attribute("attr.\(a)", .string(value)))
                case 1: attributes.append(Attribute("attr.\(a)", .int(Int64(a * 1000 + i))))
                case 2: attributes.append(Attribute("attr.\(a)", .double(Double(i) * 0.5)))
                default: attributes.append(Attribute("attr.\(a)", .bool(i % 2 == 0)))
                }
            }
            let isError = Double(i % 100) < shape.errorRatio * 100
            spans.append(
                Span(
                    traceID: traceIDs[traceIndex], spanID: spanIDs[i],
                    parentSpanID: isRoot ? nil : spanIDs[i - i % shape.spansPerTrace],
                    name: isRoot ? "GET /api/items/{id}" : "SELECT items \(i % shape.spansPerTrace)",
                    kind: isRoot ? .server : .client,
                    startTimeUnixNano: start + UInt64(i) * 1000, endTimeUnixNano: start + UInt64(i) * 1000 + 500_000,
                    attributes: attributes,
                    status: isError ? SpanStatus(code: .error, message: "failed") : SpanStatus()))
        }
        let batch = SpanBatch(resourceSpans: [
            ResourceSpans(
                resource: Resource(attributes: [
                    Attribute("service.name", .string("bench-service-\(service)")), Attribute("host.name", .string("bench-host")),
                ]),
                scopeSpans: [ScopeSpans(scope: InstrumentationScope(name: "tracegate-bench", version: "1"), spans: spans)])
        ])
        switch encoding {
        case .protobuf:
            let bytes = OTLPProtobufEncoder.encode(batch)
            return Template(
                bytes: bytes, traceIDOffsets: traceIDs.map { offsets(of: $0.bytes, in: bytes) },
                spanIDOffsets: spanIDs.map { offsets(of: $0.bytes, in: bytes) })
        case .json:
            let bytes = OTLPJSONRequestEncoder.encode(batch)
            return Template(
                bytes: bytes, traceIDOffsets: traceIDs.map { offsets(of: Array($0.hex.utf8), in: bytes) },
                spanIDOffsets: spanIDs.map { offsets(of: Array($0.hex.utf8), in: bytes) })
        }
    }

    private static func offsets(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        var out: [Int] = []
        guard haystack.count >= needle.count else { return out }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { out.append(i) }
        }
        return out
    }

    /// Request number `sequence` of `stream` (a connection): ids are unique
    /// across streams and sequences of this run, and look random, as the
    /// W3C Trace Context asks of SDKs. (Counting ids would flatter every
    /// B-tree on them: PostgreSQL appends ascending keys to the rightmost
    /// leaf without descending the tree, which real traffic never allows.)
    func request(stream: Int, sequence: Int) -> [UInt8] {
        let template = templates[sequence % templates.count]
        var bytes = template.bytes
        let encoding = self.encoding
        let streamKey = Self.mix(UInt64(runNonce) << 32 | UInt64(UInt32(truncatingIfNeeded: stream)))
        bytes.withUnsafeMutableBytes { raw in
            for (t, offsets) in template.traceIDOffsets.enumerated() {
                // Unique: `low` differs within a stream, `high` across streams
                // for the same `low` (`mix` is a bijection).
                let low = Self.mix(UInt64(sequence) << 20 | UInt64(t))
                let high = Self.mix(low) ^ streamKey
                for o in offsets {
                    Self.store(high, at: o, in: raw, encoding)
                    Self.store(low, at: o + (encoding == .json ? 16 : 8), in: raw, encoding)
                }
            }
            for (s, offsets) in template.spanIDOffsets.enumerated() {
                let id = Self.mix((UInt64(sequence) << 20 | UInt64(s + 1)) ^ streamKey)
                for o in offsets { Self.store(id == 0 ? 1 : id, at: o, in: raw, encoding) }
            }
        }
        return bytes
    }

    /// SplitMix64's finalizer: a bijection on 64 bits that scatters
    /// neighbouring inputs.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Writes 8 id bytes: big-endian in protobuf, 16 lowercase hex digits in JSON.
    private static func store(_ value: UInt64, at offset: Int, in raw: UnsafeMutableRawBufferPointer, _ encoding: PayloadEncoding) {
        switch encoding {
        case .protobuf:
            raw.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
        case .json:
            let digits: StaticString = "0123456789abcdef"
            for i in 0..<16 {
                let nibble = Int((value >> UInt64(60 - 4 * i)) & 0xF)
                raw[offset + i] = digits.utf8Start[nibble]
            }
        }
    }
}
