import TracegateCore

/// The binary COPY stream of `trace_spans` rows (framing: `BinaryCopyWriter`;
/// jsonb's binary form is a version byte (1) followed by the JSON text).
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

    static func encode(_ batch: SpanBatch, maxAttributeValueBytes: Int = 0) -> [UInt8] {
        var noOffsets: [Int]? = nil
        return encode(batch, maxAttributeValueBytes: maxAttributeValueBytes, rowStarts: &noOffsets)
    }

    /// As `encode`, and the byte offset where each row starts (plus the
    /// trailer's offset last), in COPY order: the split mode sends ranges of
    /// rows with `BinaryCopyWriter.slice` without encoding them again.
    static func encodeWithRowOffsets(_ batch: SpanBatch, maxAttributeValueBytes: Int = 0) -> (payload: [UInt8], rowStarts: [Int]) {
        var starts: [Int]? = []
        starts!.reserveCapacity(batch.spanCount + 1)
        let payload = encode(batch, maxAttributeValueBytes: maxAttributeValueBytes, rowStarts: &starts)
        return (payload, starts!)
    }

    /// The one encoder of both: `rowStarts`, when not nil, gets each row's offset.
    private static func encode(_ batch: SpanBatch, maxAttributeValueBytes: Int, rowStarts: inout [Int]?) -> [UInt8] {
        var w = BinaryCopyWriter(columns: columns.count, capacity: 64 + batch.spanCount * 512, maxValueBytes: maxAttributeValueBytes)
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
                        rowStarts?.append(w.count)
                        appendRow(spans.baseAddress! + i, serviceName: serviceName, scope: ss.scope, resourceJSON: resourceJSON.out, &w)
                    }
                }
            }
        }
        rowStarts?.append(w.count)
        return w.finish()
    }

    /// The COPY stream of rows `range` of a payload from `encodeWithRowOffsets`.
    static func slice(_ payload: [UInt8], rowStarts: [Int], _ range: Range<Int>) -> [UInt8] {
        BinaryCopyWriter.slice(payload, rowStarts: rowStarts, range)
    }

    @inline(__always)
    private static func appendRow(
        _ span: UnsafePointer<Span>, serviceName: String, scope: InstrumentationScope, resourceJSON: [UInt8], _ w: inout BinaryCopyWriter
    ) {
        w.beginRow()
        w.bytes16(high: span.pointee.traceID.high, low: span.pointee.traceID.low)
        w.bytes8(span.pointee.spanID.value)
        w.bytes8(span.pointee.parentSpanID?.value)
        w.text(span.pointee.traceState)
        w.text(span.pointee.name)
        w.int16(Int16(clamping: span.pointee.kind.rawValue))
        w.text(serviceName)
        w.text(scope.name)
        w.text(scope.version)
        w.timestamp(unixNanos: span.pointee.startTimeUnixNano)
        w.timestamp(unixNanos: span.pointee.endTimeUnixNano)
        w.int64(Int64(clamping: span.pointee.durationNanos))
        w.int16(Int16(clamping: span.pointee.status.code.rawValue))
        w.text(span.pointee.status.message)
        w.int64(Int64(span.pointee.flags))
        // Written in place between a length word and its patch; no
        // closures, which would copy the span (a retain per field).
        var lengthAt = w.beginJSONB()
        w.json.attributes(span.pointee.attributes)
        w.endJSONB(lengthAt)
        w.jsonb(rendered: resourceJSON)
        lengthAt = w.beginJSONB()
        w.json.events(span.pointee.events)
        w.endJSONB(lengthAt)
        lengthAt = w.beginJSONB()
        w.json.links(span.pointee.links)
        w.endJSONB(lengthAt)
        w.int32(Int32(clamping: span.pointee.droppedAttributesCount))
        w.int32(Int32(clamping: span.pointee.droppedEventsCount))
        w.int32(Int32(clamping: span.pointee.droppedLinksCount))
    }
}
