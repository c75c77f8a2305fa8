/// What a span represents (`Span.SpanKind`). Unknown values are kept as they came.
public struct SpanKind: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let unspecified = SpanKind(rawValue: 0)
    public static let `internal` = SpanKind(rawValue: 1)
    public static let server = SpanKind(rawValue: 2)
    public static let client = SpanKind(rawValue: 3)
    public static let producer = SpanKind(rawValue: 4)
    public static let consumer = SpanKind(rawValue: 5)
}

/// `Status.StatusCode`.
public struct StatusCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let unset = StatusCode(rawValue: 0)
    public static let ok = StatusCode(rawValue: 1)
    public static let error = StatusCode(rawValue: 2)
}

/// A span's status.
public struct SpanStatus: Hashable, Sendable {
    public var code: StatusCode
    public var message: String

    public init(code: StatusCode = .unset, message: String = "") {
        self.code = code
        self.message = message
    }
}

/// A timed event inside a span (`Span.Event`).
public struct SpanEvent: Hashable, Sendable {
    public var timeUnixNano: UInt64
    public var name: String
    public var attributes: [Attribute]
    public var droppedAttributesCount: UInt32

    public init(timeUnixNano: UInt64, name: String, attributes: [Attribute] = [], droppedAttributesCount: UInt32 = 0) {
        self.timeUnixNano = timeUnixNano
        self.name = name
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
    }
}

/// A pointer from a span to a span of the same or another trace (`Span.Link`).
public struct SpanLink: Hashable, Sendable {
    public var traceID: TraceID
    public var spanID: SpanID
    public var traceState: String
    public var attributes: [Attribute]
    public var droppedAttributesCount: UInt32
    public var flags: UInt32

    public init(
        traceID: TraceID, spanID: SpanID, traceState: String = "", attributes: [Attribute] = [],
        droppedAttributesCount: UInt32 = 0, flags: UInt32 = 0
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.traceState = traceState
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
        self.flags = flags
    }
}

/// One operation (`opentelemetry.proto.trace.v1.Span`).
public struct Span: Hashable, Sendable {
    public var traceID: TraceID
    public var spanID: SpanID
    /// nil for a root span (OTLP sends an empty or all-zero parent id).
    public var parentSpanID: SpanID?
    public var traceState: String
    public var flags: UInt32
    public var name: String
    public var kind: SpanKind
    public var startTimeUnixNano: UInt64
    public var endTimeUnixNano: UInt64
    public var attributes: [Attribute]
    public var droppedAttributesCount: UInt32
    public var events: [SpanEvent]
    public var droppedEventsCount: UInt32
    public var links: [SpanLink]
    public var droppedLinksCount: UInt32
    public var status: SpanStatus

    public init(
        traceID: TraceID, spanID: SpanID, parentSpanID: SpanID? = nil, traceState: String = "",
        flags: UInt32 = 0, name: String, kind: SpanKind = .internal, startTimeUnixNano: UInt64,
        endTimeUnixNano: UInt64, attributes: [Attribute] = [], droppedAttributesCount: UInt32 = 0,
        events: [SpanEvent] = [], droppedEventsCount: UInt32 = 0, links: [SpanLink] = [],
        droppedLinksCount: UInt32 = 0, status: SpanStatus = SpanStatus()
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.traceState = traceState
        self.flags = flags
        self.name = name
        self.kind = kind
        self.startTimeUnixNano = startTimeUnixNano
        self.endTimeUnixNano = endTimeUnixNano
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
        self.events = events
        self.droppedEventsCount = droppedEventsCount
        self.links = links
        self.droppedLinksCount = droppedLinksCount
        self.status = status
    }

    /// Duration in nanoseconds (0 when the end is before the start).
    public var durationNanos: UInt64 {
        endTimeUnixNano >= startTimeUnixNano ? endTimeUnixNano - startTimeUnixNano : 0
    }
}
