import TracegateCore

/// The postgres store's wire mapping of a notification: the fields of an
/// outbox row's `payload` read as text columns (`ConclusionSQL.claim`,
/// `ConclusionSQL.payloadFields`), straight into a `TraceConclusion`.
///
/// Why columns and not the payload's JSON text: the payload is the durable
/// record of a notification (outbox, dead letters, `tracegate
/// notifications`), built once in SQL; the body is built once, by
/// `NotificationRequest.make`, from the typed value that `when`, the
/// idempotency key and `body_template` also read. Reading the payload as JSON
/// text meant JSON → `JSONDecoder` → Swift → JSON again on every claim.
extension TraceConclusion {
    /// A notification from the payload columns of a claimed row, in
    /// `fieldNames` order; nil when the payload is not a notification.
    init?(payloadColumns c: ArraySlice<String?>) {
        let c = Array(c)
        guard c.count == Self.fieldNames.count,
            let traceID = c[0], let services = c[3].flatMap(Self.textArray), let spanCount = c[4].flatMap({ Int($0) }),
            let errorCount = c[5].flatMap({ Int($0) }), let start = c[6], let end = c[7],
            let durationMs = c[8].flatMap({ Double($0) }), let status = c[9], let complete = c[10].flatMap(Self.bool),
            let missingParents = c[11].flatMap(Self.textArray), let updated = c[12].flatMap(Self.bool)
        else { return nil }
        self.init(
            traceID: traceID, rootName: c[1], rootService: c[2], services: services, spanCount: spanCount, errorCount: errorCount,
            start: start, end: end, durationMs: durationMs, status: status, complete: complete, missingParents: missingParents,
            updated: updated)
    }

    /// `true`/`false` as `->>` writes a JSON boolean.
    private static func bool(_ text: String) -> Bool? {
        switch text {
        case "true": true
        case "false": false
        default: nil
        }
    }

    /// The elements of a PostgreSQL text-array value in text output format
    /// (`{a,"b c","d\"e"}`); nil for anything else, or a NULL element.
    static func textArray(_ text: String) -> [String]? {
        var chars = text.unicodeScalars[...]
        guard chars.popFirst() == "{", chars.popLast() == "}" else { return nil }
        var out: [String] = []
        if chars.isEmpty { return out }
        while true {
            var item = String.UnicodeScalarView()
            if chars.first == "\"" {
                chars.removeFirst()
                while true {
                    guard var ch = chars.popFirst() else { return nil }
                    if ch == "\"" { break }
                    if ch == "\\" {
                        guard let escaped = chars.popFirst() else { return nil }
                        ch = escaped
                    }
                    item.append(ch)
                }
            } else {
                while let ch = chars.first, ch != "," {
                    if ch == "\"" || ch == "\\" || ch == "{" || ch == "}" { return nil }
                    item.append(ch)
                    chars.removeFirst()
                }
                // Unquoted NULL is a NULL element; a JSON null has no text.
                if String(item).uppercased() == "NULL" || item.isEmpty { return nil }
            }
            out.append(String(item))
            guard let next = chars.popFirst() else { return out }
            if next != "," { return nil }
        }
    }
}
