extension SpanBatch {
    /// A rough count of the bytes this batch holds in memory (strings, byte
    /// arrays and fixed-size fields), for the memory limiter's accounting
    /// between two measurements. It does not need to be exact, only
    /// proportional to what decoding the batch allocated.
    public var estimatedByteSize: Int {
        var total = 0
        for rs in resourceSpans {
            total += 64 + rs.schemaURL.utf8.count + Self.size(of: rs.resource.attributes)
            for ss in rs.scopeSpans {
                total += 64 + ss.scope.name.utf8.count + ss.scope.version.utf8.count + Self.size(of: ss.scope.attributes)
                for span in ss.spans {
                    total += 160 + span.name.utf8.count + span.traceState.utf8.count + span.status.message.utf8.count
                    total += Self.size(of: span.attributes)
                    for event in span.events { total += 48 + event.name.utf8.count + Self.size(of: event.attributes) }
                    for link in span.links { total += 64 + link.traceState.utf8.count + Self.size(of: link.attributes) }
                }
            }
        }
        return total
    }

    private static func size(of attributes: [Attribute]) -> Int {
        var total = 0
        for attribute in attributes { total += 24 + attribute.key.utf8.count + size(of: attribute.value) }
        return total
    }

    private static func size(of value: AnyValue) -> Int {
        switch value {
        case .empty, .bool, .int, .double: return 16
        case .string(let s): return 16 + s.utf8.count
        case .bytes(let b): return 16 + b.count
        case .array(let values): return values.reduce(16) { $0 + size(of: $1) }
        case .kvlist(let attributes): return 16 + size(of: attributes)
        }
    }
}
