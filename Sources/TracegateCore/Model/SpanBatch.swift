/// The entity that produced spans (`opentelemetry.proto.resource.v1.Resource`).
public struct Resource: Hashable, Sendable {
    public var attributes: [Attribute]
    public var droppedAttributesCount: UInt32

    public init(attributes: [Attribute] = [], droppedAttributesCount: UInt32 = 0) {
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
    }

    /// `service.name`, or OpenTelemetry's fallback `unknown_service` when absent.
    public var serviceName: String {
        if case .string(let name)? = attributes[key: "service.name"], !name.isEmpty { return name }
        return "unknown_service"
    }
}

/// The library that recorded spans (`InstrumentationScope`).
public struct InstrumentationScope: Hashable, Sendable {
    public var name: String
    public var version: String
    public var attributes: [Attribute]
    public var droppedAttributesCount: UInt32

    public init(name: String = "", version: String = "", attributes: [Attribute] = [], droppedAttributesCount: UInt32 = 0) {
        self.name = name
        self.version = version
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
    }
}

/// Spans of one instrumentation scope.
public struct ScopeSpans: Hashable, Sendable {
    public var scope: InstrumentationScope
    public var schemaURL: String
    public var spans: [Span]

    public init(scope: InstrumentationScope = InstrumentationScope(), schemaURL: String = "", spans: [Span] = []) {
        self.scope = scope
        self.schemaURL = schemaURL
        self.spans = spans
    }
}

/// Spans of one resource.
public struct ResourceSpans: Hashable, Sendable {
    public var resource: Resource
    public var schemaURL: String
    public var scopeSpans: [ScopeSpans]

    public init(resource: Resource = Resource(), schemaURL: String = "", scopeSpans: [ScopeSpans] = []) {
        self.resource = resource
        self.schemaURL = schemaURL
        self.scopeSpans = scopeSpans
    }

    public var spanCount: Int { scopeSpans.reduce(0) { $0 + $1.spans.count } }
}

/// The unit that moves through a pipeline: what one export request carried, or
/// several of them merged by the batch processor.
public struct SpanBatch: Hashable, Sendable {
    public var resourceSpans: [ResourceSpans]

    public init(resourceSpans: [ResourceSpans] = []) {
        self.resourceSpans = resourceSpans
    }

    public var spanCount: Int { resourceSpans.reduce(0) { $0 + $1.spanCount } }
    public var isEmpty: Bool { spanCount == 0 }

    /// Calls `body` for every span with its resource and scope.
    public func forEachSpan(_ body: (Resource, InstrumentationScope, Span) throws -> Void) rethrows {
        for rs in resourceSpans {
            for ss in rs.scopeSpans {
                for span in ss.spans { try body(rs.resource, ss.scope, span) }
            }
        }
    }

    /// Appends another batch's resource spans.
    public mutating func append(contentsOf other: SpanBatch) {
        resourceSpans.append(contentsOf: other.resourceSpans)
    }

    /// Splits off batches of at most `maxSpans` spans each, keeping resource and
    /// scope with every piece.
    public func split(maxSpans: Int) -> [SpanBatch] {
        precondition(maxSpans > 0)
        if spanCount <= maxSpans { return [self] }
        var out: [SpanBatch] = []
        var current = SpanBatch()
        var currentCount = 0
        for rs in resourceSpans {
            for ss in rs.scopeSpans {
                var rest = ss.spans[...]
                while !rest.isEmpty {
                    let take = min(maxSpans - currentCount, rest.count)
                    let piece = ScopeSpans(scope: ss.scope, schemaURL: ss.schemaURL, spans: Array(rest.prefix(take)))
                    rest = rest.dropFirst(take)
                    if let last = current.resourceSpans.indices.last,
                        current.resourceSpans[last].resource == rs.resource,
                        current.resourceSpans[last].schemaURL == rs.schemaURL
                    {
                        current.resourceSpans[last].scopeSpans.append(piece)
                    } else {
                        current.resourceSpans.append(ResourceSpans(resource: rs.resource, schemaURL: rs.schemaURL, scopeSpans: [piece]))
                    }
                    currentCount += take
                    if currentCount == maxSpans {
                        out.append(current)
                        current = SpanBatch()
                        currentCount = 0
                    }
                }
            }
        }
        if currentCount > 0 { out.append(current) }
        return out
    }
}
