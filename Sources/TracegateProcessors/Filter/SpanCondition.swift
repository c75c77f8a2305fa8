import TracegateCore

/// A test on a span, its resource and its service, as written under the
/// `drop:` key of the `filter` processor. Conditions nest with `any` (or
/// `or`), `all` (or `and`) and `not`; a mapping with several keys means all
/// of them.
public indirect enum SpanCondition: Sendable, Equatable {
    /// At least one holds (`any:` / `or:` list).
    case any([SpanCondition])
    /// Every one holds (`all:` / `and:` list, or several keys in one mapping).
    case all([SpanCondition])
    /// `not:` the condition does not hold.
    case not(SpanCondition)
    /// `name:` the span name equals this.
    case name(String)
    /// `name_regex:` the span name contains a match.
    case nameRegex(CompiledRegex)
    /// `kind:` unspecified, internal, server, client, producer or consumer.
    case kind(SpanKind)
    /// `status:` unset, ok or error.
    case status(StatusCode)
    /// `service:` the resource's `service.name` equals this.
    case service(String)
    /// `service_regex:` the resource's `service.name` contains a match.
    case serviceRegex(CompiledRegex)
    /// `attribute: {key, value | value_regex | exists}` on span attributes.
    case attribute(AttributeMatch)
    /// `resource_attribute: {key, value | value_regex | exists}` on resource attributes.
    case resourceAttribute(AttributeMatch)

    /// Whether the condition holds for `span` of `resource` (whose
    /// `service.name` is `service`, computed once per resource).
    public func matches(_ span: Span, resource: Resource, service: String) -> Bool {
        switch self {
        case .any(let list): return list.contains { $0.matches(span, resource: resource, service: service) }
        case .all(let list): return list.allSatisfy { $0.matches(span, resource: resource, service: service) }
        case .not(let inner): return !inner.matches(span, resource: resource, service: service)
        case .name(let name): return span.name == name
        case .nameRegex(let regex): return regex.matches(span.name)
        case .kind(let kind): return span.kind == kind
        case .status(let code): return span.status.code == code
        case .service(let name): return service == name
        case .serviceRegex(let regex): return regex.matches(service)
        case .attribute(let match): return match.matches(span.attributes)
        case .resourceAttribute(let match): return match.matches(resource.attributes)
        }
    }

    /// Whether the condition reads only the resource, so it can be decided
    /// once for all the spans of a resource.
    var isResourceOnly: Bool {
        switch self {
        case .any(let list), .all(let list): return list.allSatisfy(\.isResourceOnly)
        case .not(let inner): return inner.isResourceOnly
        case .service, .serviceRegex, .resourceAttribute: return true
        case .name, .nameRegex, .kind, .status, .attribute: return false
        }
    }
}

/// A test on one attribute of a set.
public struct AttributeMatch: Sendable, Equatable {
    /// How the attribute's value is tested.
    public enum Test: Sendable, Equatable {
        /// `value:` equal (integers and decimals compare by number).
        case equals(AnyValue)
        /// `value_regex:` a string value contains a match.
        case regex(CompiledRegex)
        /// `exists:` the key is present (true) or absent (false).
        case exists(Bool)
    }

    /// `key`: the attribute key.
    public var key: String
    public var test: Test

    public init(key: String, test: Test) {
        self.key = key
        self.test = test
    }

    public func matches(_ attributes: [Attribute]) -> Bool {
        let value = attributes[key: key]
        switch test {
        case .exists(let present): return (value != nil) == present
        case .equals(let expected):
            guard let value else { return false }
            switch (value, expected) {
            case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(a) == b
            default: return value == expected
            }
        case .regex(let regex):
            guard case .string(let text)? = value else { return false }
            return regex.matches(text)
        }
    }
}

extension SpanCondition {
    static let kindNames: [(String, SpanKind)] = [
        ("unspecified", .unspecified), ("internal", .internal), ("server", .server), ("client", .client),
        ("producer", .producer), ("consumer", .consumer),
    ]
    static let statusNames: [(String, StatusCode)] = [("unset", .unset), ("ok", .ok), ("error", .error)]
    static let keys = [
        "any", "or", "all", "and", "not", "name", "name_regex", "kind", "status", "service", "service_regex", "attribute",
        "resource_attribute",
    ]

    /// Reads a condition mapping, reporting every problem; nil when unusable.
    static func read(_ value: ConfigValue) -> SpanCondition? {
        guard value.isMapping else {
            value.reportProblem("expected a condition mapping such as {name: …}, {any: [...]}; keys: \(keys.joined(separator: ", "))")
            return nil
        }
        let map = value.mapping()
        if map.isEmpty {
            map.report(nil, "empty condition; use one of \(keys.joined(separator: ", "))")
            return nil
        }
        var parts: [SpanCondition] = []
        var ok = true
        for key in map.keys {
            guard let v = map.value(key) else { continue }
            guard let part = readPart(key, v, map) else {
                ok = false
                continue
            }
            parts.append(part)
        }
        guard ok else { return nil }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private static func readPart(_ key: String, _ v: ConfigValue, _ map: ConfigMap) -> SpanCondition? {
        switch key {
        case "any", "or", "all", "and":
            guard let items = v.items() else { return nil }
            if items.isEmpty {
                v.reportProblem("must list at least one condition")
                return nil
            }
            let inner = items.map(read)
            guard inner.allSatisfy({ $0 != nil }) else { return nil }
            return key == "any" || key == "or" ? .any(inner.map { $0! }) : .all(inner.map { $0! })
        case "not":
            return read(v).map(SpanCondition.not)
        case "name":
            return v.string().map(SpanCondition.name)
        case "service":
            return v.string().map(SpanCondition.service)
        case "name_regex":
            return CompiledRegex.read(v).map(SpanCondition.nameRegex)
        case "service_regex":
            return CompiledRegex.read(v).map(SpanCondition.serviceRegex)
        case "kind":
            guard let text = v.string() else { return nil }
            guard let kind = kindNames.first(where: { $0.0 == text.lowercased() })?.1 else {
                v.reportProblem("unknown span kind '\(text)'; expected one of \(kindNames.map(\.0).joined(separator: ", "))")
                return nil
            }
            return .kind(kind)
        case "status":
            guard let text = v.string() else { return nil }
            guard let code = statusNames.first(where: { $0.0 == text.lowercased() })?.1 else {
                v.reportProblem("unknown status '\(text)'; expected one of unset, ok, error")
                return nil
            }
            return .status(code)
        case "attribute", "resource_attribute":
            guard let match = readAttributeMatch(v) else { return nil }
            return key == "attribute" ? .attribute(match) : .resourceAttribute(match)
        default:
            map.report(key, "unknown condition; expected one of \(keys.joined(separator: ", "))")
            return nil
        }
    }

    private static func readAttributeMatch(_ v: ConfigValue) -> AttributeMatch? {
        guard v.isMapping else {
            v.reportProblem("expected {key: …, value: …} (or value_regex, or exists)")
            return nil
        }
        let map = v.mapping()
        let key = map.string("key")
        let value = map.value("value")
        let expected = value?.attributeValue()
        let regexValue = map.value("value_regex")
        let regex = CompiledRegex.read(regexValue)
        let existsValue = map.has("exists") ? map.value("exists")?.bool() : nil
        map.finish()
        var ok = true
        if key == nil || key?.isEmpty == true {
            map.report(nil, "key is required")
            ok = false
        }
        let given = [value != nil, regexValue != nil, map.has("exists")].filter { $0 }.count
        if given != 1 {
            map.report(nil, "give exactly one of value, value_regex, exists")
            ok = false
        }
        guard ok, let key else { return nil }
        if let expected { return AttributeMatch(key: key, test: .equals(expected)) }
        if let regex { return AttributeMatch(key: key, test: .regex(regex)) }
        if let existsValue { return AttributeMatch(key: key, test: .exists(existsValue)) }
        return nil
    }
}
