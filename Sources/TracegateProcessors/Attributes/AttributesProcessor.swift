import TracegateCore

/// Changes span and/or resource attributes in place: insert, update, upsert,
/// delete, hash, redact and truncate, by exact key or key pattern. Stateless;
/// runs on the receiving thread, so it only touches the attribute arrays that
/// an action changes.
public final class AttributesProcessor: SpanConsumer {
    public let config: AttributesProcessorConfig
    private let next: any SpanConsumer
    /// One per action with a key pattern: attribute keys repeat endlessly, so
    /// each key is matched against the regex once, not once per span.
    private let keyMatchers: [KeyPatternCache?]

    public init(config: AttributesProcessorConfig, next: any SpanConsumer) {
        self.config = config
        self.next = next
        self.keyMatchers = config.actions.map { action in action.pattern.map { KeyPatternCache($0) } }
    }

    public func consume(_ batch: SpanBatch) {
        var batch = batch
        apply(to: &batch)
        next.consume(batch)
    }

    public func discard(_ count: Int) { next.discard(count) }

    /// Applies every action to the attribute sets `apply_to` names.
    public func apply(to batch: inout SpanBatch) {
        let resources = config.applyTo != .span
        let spans = config.applyTo != .resource
        for r in batch.resourceSpans.indices {
            if resources { apply(to: &batch.resourceSpans[r].resource.attributes) }
            guard spans else { continue }
            for s in batch.resourceSpans[r].scopeSpans.indices {
                for i in batch.resourceSpans[r].scopeSpans[s].spans.indices {
                    apply(to: &batch.resourceSpans[r].scopeSpans[s].spans[i].attributes)
                }
            }
        }
    }

    /// Applies every action, in order, to one attribute set.
    public func apply(to attributes: inout [Attribute]) {
        for (action, matcher) in zip(config.actions, keyMatchers) { Self.apply(action, matcher, to: &attributes) }
    }

    static func apply(_ action: AttributeAction, _ matcher: KeyPatternCache?, to attributes: inout [Attribute]) {
        /// Whether the action applies to a key: its exact key, or its pattern.
        func selects(_ key: String) -> Bool {
            if let k = action.key { return k == key }
            return matcher?.matches(key) ?? false
        }
        switch action.kind {
        case .insert, .update, .upsert:
            guard let key = action.key, let newValue = value(of: action.source, in: attributes) else { return }
            if let i = attributes.firstIndex(where: { $0.key == key }) {
                if action.kind != .insert { attributes[i].value = newValue }
            } else if action.kind != .update {
                attributes.append(Attribute(key, newValue))
            }
        case .delete:
            // Checked first so that an attribute set without the key is not copied.
            if attributes.contains(where: { selects($0.key) }) { attributes.removeAll { selects($0.key) } }
        case .hash:
            for i in attributes.indices where selects(attributes[i].key) {
                attributes[i].value = .string(sha256Hex(attributes[i].value.hashInput))
            }
        case .redact:
            for i in attributes.indices where selects(attributes[i].key) { attributes[i].value = .string(action.redactedValue) }
        case .truncate:
            // Over the keys present before: the `.sha256` keys it adds are not truncated again.
            for i in 0..<attributes.count where selects(attributes[i].key) {
                guard case .string(let text) = attributes[i].value, text.utf8.count > action.maxBytes else { continue }
                let key = attributes[i].key
                attributes[i].value = .string(text.truncatedToUTF8(maxBytes: action.maxBytes))
                attributes.upsert(key + ".sha256", .string("sha256:" + sha256Hex(Array(text.utf8))))
                attributes.upsert(key + ".original_length", .int(Int64(text.utf8.count)))
            }
        }
    }

    private static func value(of source: AttributeAction.Source?, in attributes: [Attribute]) -> AnyValue? {
        switch source {
        case .value(let v)?: return v
        case .fromAttribute(let key)?: return attributes[key: key]
        case nil: return nil
        }
    }
}

/// Lowercase hex SHA-256.
func sha256Hex(_ bytes: [UInt8]) -> String {
    Digests.hex(Digests.sha256(bytes))
}

extension [Attribute] {
    /// Sets `key` to `value`, adding it when absent.
    mutating func upsert(_ key: String, _ value: AnyValue) {
        if let i = firstIndex(where: { $0.key == key }) { self[i].value = value } else { append(Attribute(key, value)) }
    }
}

extension String {
    /// The longest prefix of at most `maxBytes` UTF-8 bytes that ends on a
    /// character boundary of the encoding (never half a multi-byte scalar).
    func truncatedToUTF8(maxBytes: Int) -> String {
        let bytes = utf8
        guard bytes.count > maxBytes else { return self }
        var end = bytes.index(bytes.startIndex, offsetBy: maxBytes)
        while end > bytes.startIndex && bytes[end] & 0xC0 == 0x80 { end = bytes.index(before: end) }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}

extension AnyValue {
    /// The bytes `hash` digests: a string's UTF-8, raw bytes as they are, and
    /// for other types their text form (`true`, `42`, `1.5`, JSON-like lists).
    var hashInput: [UInt8] {
        switch self {
        case .string(let s): return Array(s.utf8)
        case .bytes(let b): return b
        default: return Array(canonicalText.utf8)
        }
    }

    private var canonicalText: String {
        switch self {
        case .empty: return ""
        case .string(let s): return "\"" + s + "\""
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bytes(let b): return b.map { String($0) }.joined(separator: ",")
        case .array(let items): return "[" + items.map(\.canonicalText).joined(separator: ",") + "]"
        case .kvlist(let kvs): return "{" + kvs.map { "\"\($0.key)\":\($0.value.canonicalText)" }.joined(separator: ",") + "}"
        }
    }
}
