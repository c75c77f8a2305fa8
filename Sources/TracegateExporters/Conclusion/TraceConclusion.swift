import TracegateCore

/// What a notification says about one concluded trace. The postgres store
/// builds it in SQL (`payload` of `notification_outbox`, the same keys), the
/// memory store from its summaries; both send it with `json`.
public struct TraceConclusion: Sendable, Equatable, Decodable {
    /// Lowercase hex, 32 digits.
    public var traceID: String
    public var rootName: String?
    public var rootService: String?
    /// Sorted distinct service names.
    public var services: [String]
    public var spanCount: Int
    public var errorCount: Int
    /// Earliest span start and latest span end, RFC 3339 UTC with microseconds.
    public var start: String
    public var end: String
    public var durationMs: Double
    /// `error` when any span has status error, else `ok`.
    public var status: String
    public var complete: Bool
    /// Hex ids of parent spans referenced but never received.
    public var missingParents: [String]
    /// A second notification after late spans (`late_spans: renotify`).
    public var updated: Bool
    /// With `include: [spans]`: the trace's stored spans as OTLP/JSON
    /// `TracesData` (JSON text), attached at delivery; nil otherwise.
    public var spans: String? = nil
    /// With `include: [spans]`: whether spans were left out of `spans` to
    /// keep the body within `max_body_size`.
    public var spansTruncated = false

    enum CodingKeys: String, CodingKey {
        case traceID = "trace_id", rootName = "root_name", rootService = "root_service", services
        case spanCount = "span_count", errorCount = "error_count", start, end, durationMs = "duration_ms"
        case status, complete, missingParents = "missing_parents", updated
    }

    /// The field names of every notification, in the order of `json`.
    public static let fieldNames = [
        "trace_id", "root_name", "root_service", "services", "span_count", "error_count", "start", "end",
        "duration_ms", "status", "complete", "missing_parents", "updated",
    ]

    /// The fields whose value is a list of strings.
    static let arrayFieldNames: Set<String> = ["services", "missing_parents"]

    /// The fields `include: [spans]` adds (last in `json`); a body template may use them too.
    public static let spanFieldNames = ["spans", "spans_truncated"]

    public init(
        traceID: String, rootName: String?, rootService: String?, services: [String], spanCount: Int, errorCount: Int,
        start: String, end: String, durationMs: Double, status: String, complete: Bool, missingParents: [String], updated: Bool
    ) {
        self.traceID = traceID
        self.rootName = rootName
        self.rootService = rootService
        self.services = services
        self.spanCount = spanCount
        self.errorCount = errorCount
        self.start = start
        self.end = end
        self.durationMs = durationMs
        self.status = status
        self.complete = complete
        self.missingParents = missingParents
        self.updated = updated
    }

    /// The JSON text of one field (strings quoted, absent values `null`), or
    /// nil for an unknown name.
    public func jsonValue(of field: String) -> String? {
        switch field {
        case "trace_id": return JSONText.string(traceID)
        case "root_name": return rootName.map(JSONText.string) ?? "null"
        case "root_service": return rootService.map(JSONText.string) ?? "null"
        case "services": return JSONText.array(services.map(JSONText.string))
        case "span_count": return "\(spanCount)"
        case "error_count": return "\(errorCount)"
        case "start": return JSONText.string(start)
        case "end": return JSONText.string(end)
        case "duration_ms": return JSONText.number(durationMs)
        case "status": return JSONText.string(status)
        case "complete": return complete ? "true" : "false"
        case "missing_parents": return JSONText.array(missingParents.map(JSONText.string))
        case "updated": return updated ? "true" : "false"
        case "spans": return spans ?? "null"
        case "spans_truncated": return spansTruncated ? "true" : "false"
        default: return nil
        }
    }

    /// The whole notification as a JSON object, keys in a fixed order.
    public var json: String {
        let names = spans == nil ? Self.fieldNames : Self.fieldNames + Self.spanFieldNames
        return "{" + names.map { "\(JSONText.string($0)):\(jsonValue(of: $0)!)" }.joined(separator: ",") + "}"
    }

    /// `2023-11-14T22:13:20.123456Z` for nanoseconds since the Unix epoch.
    public static func timestamp(unixNano: UInt64) -> String {
        UTCTime(unixNano: unixNano).formatted()
    }
}
