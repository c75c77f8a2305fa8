import TracegateCore

/// One entry of the `actions` list of the `attributes` processor (or of the
/// `attributes` list of the `resource` processor): what to do to which keys.
public struct AttributeAction: Sendable, Equatable {
    /// What the action does.
    public enum Kind: String, Sendable, CaseIterable {
        /// Adds the key when it is absent.
        case insert
        /// Changes the value when the key is present.
        case update
        /// Sets the value, adding the key when it is absent.
        case upsert
        /// Removes the key (or every key the pattern matches).
        case delete
        /// Replaces the value by the lowercase hex SHA-256 of its bytes.
        case hash
        /// Replaces the value by `redacted_value`.
        case redact
        /// Cuts string values longer than `max_bytes` and records the hash of the full value.
        case truncate
    }

    /// Where insert, update and upsert take the new value from.
    public enum Source: Sendable, Equatable {
        /// `value:`, a literal.
        case value(AnyValue)
        /// `from_attribute:`, another attribute of the same span or resource.
        case fromAttribute(String)
    }

    /// `action`: required.
    public var kind: Kind
    /// `key`: the exact attribute key. Required by insert, update and upsert.
    public var key: String?
    /// `pattern`: a regular expression over keys (delete, hash, redact, truncate).
    public var pattern: CompiledRegex?
    /// `value` or `from_attribute` (insert, update, upsert).
    public var source: Source?
    /// `redacted_value`: what redact writes. Default `[REDACTED]`.
    public var redactedValue: String = "[REDACTED]"
    /// `max_bytes`: the longest string truncate keeps, in UTF-8 bytes.
    public var maxBytes: Int = 0

    public init(kind: Kind, key: String? = nil, pattern: CompiledRegex? = nil, source: Source? = nil) {
        self.kind = kind
        self.key = key
        self.pattern = pattern
        self.source = source
    }

    /// Reads one action, reporting every problem; nil when it cannot be used.
    static func read(_ map: ConfigMap) -> AttributeAction? {
        // Every key is read whatever the action, so that a key the action
        // does not use is reported as such rather than as unknown.
        let kindText = map.string("action")
        let key = map.string("key")
        let patternValue = map.value("pattern")
        let pattern = CompiledRegex.read(patternValue)
        let value = map.value("value")?.attributeValue()
        let fromAttribute = map.string("from_attribute")
        let redacted = map.string("redacted_value")
        let maxBytes = map.value("max_bytes")?.int(range: 1...Int(Int32.max))
        map.finish()

        guard let kindText else {
            map.report(nil, "action is required (one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        guard let kind = Kind(rawValue: kindText) else {
            map.report("action", "unknown action '\(kindText)'; expected one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        var ok = patternValue == nil || pattern != nil
        var action = AttributeAction(kind: kind, key: key, pattern: pattern)
        if key?.isEmpty == true {
            map.report("key", "must not be empty")
            ok = false
        }
        switch kind {
        case .insert, .update, .upsert:
            if patternValue != nil {
                map.report("pattern", "\(kind.rawValue) needs an exact key; pattern is only for delete, hash, redact and truncate")
                ok = false
            }
            if key == nil {
                map.report(nil, "key is required by \(kind.rawValue)")
                ok = false
            }
            switch (value, fromAttribute) {
            case (let v?, nil): action.source = .value(v)
            case (nil, let from?): action.source = .fromAttribute(from)
            case (nil, nil):
                if !map.has("value") {
                    map.report(nil, "\(kind.rawValue) needs value or from_attribute")
                }
                ok = false
            case (_?, _?):
                map.report("from_attribute", "give either value or from_attribute, not both")
                ok = false
            }
        case .delete, .hash, .redact, .truncate:
            if key == nil && patternValue == nil {
                map.report(nil, "key or pattern is required by \(kind.rawValue)")
                ok = false
            } else if key != nil && patternValue != nil {
                map.report("pattern", "give either key or pattern, not both")
                ok = false
            }
            for unused in ["value", "from_attribute"] where map.has(unused) {
                map.report(unused, "is only used by insert, update and upsert")
                ok = false
            }
        }
        if let redacted {
            if kind == .redact { action.redactedValue = redacted } else {
                map.report("redacted_value", "is only used by redact")
                ok = false
            }
        }
        if kind == .truncate {
            if let maxBytes { action.maxBytes = maxBytes } else {
                if !map.has("max_bytes") { map.report(nil, "max_bytes is required by truncate") }
                ok = false
            }
        } else if map.has("max_bytes") {
            map.report("max_bytes", "is only used by truncate")
            ok = false
        }
        return ok ? action : nil
    }
}
