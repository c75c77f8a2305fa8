import TracegateCore

/// Builds the PostgreSQL binary COPY stream for `trace_spans` rows.
///
/// Format: the 19-byte header, then per row an int16 column count and per
/// column an int32 length (-1 for NULL) followed by the value in the type's
/// binary send format, then the int16 trailer -1. jsonb's binary form is a
/// version byte (1) followed by the JSON text.
enum SpanCopyEncoder {
    /// The column list, in the order rows are encoded.
    static let columns = [
        "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "service_name",
        "scope_name", "scope_version", "start_time", "end_time", "duration_ns", "status_code",
        "status_message", "flags", "attributes", "resource_attributes", "events", "links",
        "dropped_attributes_count", "dropped_events_count", "dropped_links_count",
    ]

    static func copyStatement(table: String) -> String {
        "COPY \(table) (\(columns.joined(separator: ", "))) FROM STDIN (FORMAT binary)"
    }

    /// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
    static let postgresEpochOffsetMicros: Int64 = 946_684_800_000_000

    static func encode(_ batch: SpanBatch, maxAttributeValueBytes: Int = 0) -> [UInt8] {
        var noOffsets: [Int]? = nil
        return encode(batch, maxAttributeValueBytes: maxAttributeValueBytes, rowStarts: &noOffsets)
    }

    /// As `encode`, and the byte offset where each row starts (plus the
    /// trailer's offset last), in COPY order: the split mode sends ranges of
    /// rows as `header + rows + trailer` without encoding them again.
    static func encodeWithRowOffsets(_ batch: SpanBatch, maxAttributeValueBytes: Int = 0) -> (payload: [UInt8], rowStarts: [Int]) {
        var starts: [Int]? = []
        starts!.reserveCapacity(batch.spanCount + 1)
        let payload = encode(batch, maxAttributeValueBytes: maxAttributeValueBytes, rowStarts: &starts)
        return (payload, starts!)
    }

    /// The one encoder of both: `rowStarts`, when not nil, gets each row's offset.
    private static func encode(_ batch: SpanBatch, maxAttributeValueBytes: Int, rowStarts: inout [Int]?) -> [UInt8] {
        var w = JSONWriter(into: [], maxValueBytes: maxAttributeValueBytes)
        w.out.reserveCapacity(64 + batch.spanCount * 512)
        w.out.append(contentsOf: Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        appendInt32(0, &w.out)  // flags
        appendInt32(0, &w.out)  // header extension length
        for rs in batch.resourceSpans {
            let serviceName = rs.resource.serviceName
            // Every span of a resource carries the same resource attributes:
            // render them once.
            var resourceJSON = JSONWriter(into: [1], maxValueBytes: maxAttributeValueBytes)
            resourceJSON.attributes(rs.resource.attributes)
            for ss in rs.scopeSpans {
                // Spans are read in place through the buffer: `for span in
                // spans` would copy each (a retain and release per field).
                ss.spans.withUnsafeBufferPointer { spans in
                    for i in spans.indices {
                        rowStarts?.append(w.out.count)
                        appendRow(spans.baseAddress! + i, serviceName: serviceName, scope: ss.scope, resourceJSON: resourceJSON.out, &w)
                    }
                }
            }
        }
        rowStarts?.append(w.out.count)
        appendInt16(-1, &w.out)
        return w.out
    }

    /// The COPY stream of rows `range` of a payload from `encodeWithRowOffsets`.
    static func slice(_ payload: [UInt8], rowStarts: [Int], _ range: Range<Int>) -> [UInt8] {
        let header = 19
        var out: [UInt8] = []
        out.reserveCapacity(header + rowStarts[range.upperBound] - rowStarts[range.lowerBound] + 2)
        out.append(contentsOf: payload[0..<header])
        out.append(contentsOf: payload[rowStarts[range.lowerBound]..<rowStarts[range.upperBound]])
        appendInt16(-1, &out)
        return out
    }

    @inline(__always)
    private static func appendRow(
        _ span: UnsafePointer<Span>, serviceName: String, scope: InstrumentationScope, resourceJSON: [UInt8], _ w: inout JSONWriter
    ) {
        appendInt16(Int16(columns.count), &w.out)
        appendInt32(16, &w.out)
        appendInt64(Int64(bitPattern: span.pointee.traceID.high), &w.out)
        appendInt64(Int64(bitPattern: span.pointee.traceID.low), &w.out)
        appendInt32(8, &w.out)
        appendInt64(Int64(bitPattern: span.pointee.spanID.value), &w.out)
        if let parent = span.pointee.parentSpanID {
            appendInt32(8, &w.out)
            appendInt64(Int64(bitPattern: parent.value), &w.out)
        } else {
            appendInt32(-1, &w.out)
        }
        appendText(span.pointee.traceState, &w.out)
        appendText(span.pointee.name, &w.out)
        appendInt32(2, &w.out); appendInt16(Int16(clamping: span.pointee.kind.rawValue), &w.out)
        appendText(serviceName, &w.out)
        appendText(scope.name, &w.out)
        appendText(scope.version, &w.out)
        appendTimestamp(span.pointee.startTimeUnixNano, &w.out)
        appendTimestamp(span.pointee.endTimeUnixNano, &w.out)
        appendInt32(8, &w.out); appendInt64(Int64(clamping: span.pointee.durationNanos), &w.out)
        appendInt32(2, &w.out); appendInt16(Int16(clamping: span.pointee.status.code.rawValue), &w.out)
        appendText(span.pointee.status.message, &w.out)
        appendInt32(8, &w.out); appendInt64(Int64(span.pointee.flags), &w.out)
        // Written in place between a length word and its patch; no
        // closures, which would copy the span (a retain per field).
        var lengthAt = beginJSONB(&w.out)
        w.attributes(span.pointee.attributes)
        endJSONB(&w.out, lengthAt)
        appendField(resourceJSON, &w.out)
        lengthAt = beginJSONB(&w.out)
        w.events(span.pointee.events)
        endJSONB(&w.out, lengthAt)
        lengthAt = beginJSONB(&w.out)
        w.links(span.pointee.links)
        endJSONB(&w.out, lengthAt)
        appendInt32(4, &w.out); appendInt32(Int32(clamping: span.pointee.droppedAttributesCount), &w.out)
        appendInt32(4, &w.out); appendInt32(Int32(clamping: span.pointee.droppedEventsCount), &w.out)
        appendInt32(4, &w.out); appendInt32(Int32(clamping: span.pointee.droppedLinksCount), &w.out)
    }

    /// Reserves the length word of a jsonb value written in place after it
    /// (no temporary buffer per column); `endJSONB` patches the length.
    private static func beginJSONB(_ out: inout [UInt8]) -> Int {
        let lengthAt = out.count
        appendInt32(0, &out)
        out.append(1)  // jsonb binary format version
        return lengthAt
    }

    private static func endJSONB(_ out: inout [UInt8], _ lengthAt: Int) {
        let length = Int32(out.count - lengthAt - 4)
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: length.bigEndian, toByteOffset: lengthAt, as: Int32.self)
        }
    }

    static func appendTimestamp(_ unixNanos: UInt64, _ out: inout [UInt8]) {
        appendInt32(8, &out)
        appendInt64(Int64(unixNanos / 1000) - postgresEpochOffsetMicros, &out)
    }

    static func appendText(_ s: String, _ out: inout [UInt8]) {
        var s = s
        s.withUTF8 { bytes in
            appendInt32(Int32(bytes.count), &out)
            out.append(contentsOf: bytes)
        }
    }

    private static func appendField(_ bytes: [UInt8], _ out: inout [UInt8]) {
        appendInt32(Int32(bytes.count), &out)
        out.append(contentsOf: bytes)
    }

    @inline(__always) static func appendInt16(_ v: Int16, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always) static func appendInt32(_ v: Int32, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always) static func appendInt64(_ v: Int64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }
}
