import TracegateCore

/// The HTTP request that carries one or more notifications: body, headers,
/// `Idempotency-Key` and optional signature. Pure, so tests check exact bytes.
public struct NotificationRequest: Sendable, Equatable {
    public var body: [UInt8]
    public var headers: [(String, String)]

    public static func == (a: Self, b: Self) -> Bool {
        a.body == b.body && a.headers.map { "\($0.0): \($0.1)" } == b.headers.map { "\($0.0): \($0.1)" }
    }

    /// With `batch_size` 1 the body is the one notification (object, or the
    /// rendered template) and `Idempotency-Key` is its trace id; a batch is a
    /// JSON array and its key the SHA-256 (hex) of the comma-joined keys of
    /// its traces, so a resent batch has the same key. A second notification
    /// after late spans (`updated`) is a different message: its key is
    /// `<trace id>-updated-<span count>`. The signature header holds
    /// `sha256=<hex HMAC-SHA256 of the body>`.
    public static func make(_ conclusions: [TraceConclusion], config: ConclusionExporterConfig) -> NotificationRequest {
        let items = conclusions.map { c in config.bodyTemplate?.render(c) ?? c.json }
        let text = config.batchSize == 1 && items.count == 1 ? items[0] : "[" + items.joined(separator: ",") + "]"
        let body = Array(text.utf8)
        let key: String
        if conclusions.count == 1 {
            key = conclusions[0].idempotencyKey
        } else {
            key = Digests.sha256(Array(conclusions.map(\.idempotencyKey).joined(separator: ",").utf8)).hexString
        }
        var headers: [(String, String)] = [("Content-Type", "application/json"), ("Idempotency-Key", key)]
        if let signing = config.signing {
            let mac = Digests.hmacSHA256(key: Array(signing.secret.utf8), message: body)
            headers.append((signing.header, "sha256=" + mac.hexString))
        }
        headers.append(contentsOf: config.headers.map { ($0.name, $0.value) })
        return NotificationRequest(body: body, headers: headers)
    }
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension TraceConclusion {
    /// The trace id, or for an `updated` notification the trace id and its
    /// span count (the same for every retry of it, new for each update).
    var idempotencyKey: String { updated ? "\(traceID)-updated-\(spanCount)" : traceID }
}
