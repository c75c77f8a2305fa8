import TracegateCore

/// `conclusion.when`: which concluded traces are notified. The others are
/// concluded and counted (`tracegate_conclusion_notifications_filtered_total`)
/// but not sent. Conditions on the whole trace, combined like the `filter`
/// processor's (`any`, `all`, `not`):
///
/// ```yaml
/// when: { any: [ { errors: true }, { duration_over: 2s }, { attribute: { key: tenant, value: acme } } ] }
/// ```
public indirect enum NotificationCondition: Sendable, Equatable {
    case any([NotificationCondition])
    case all([NotificationCondition])
    case not(NotificationCondition)
    /// Some span is (or, with false, no span is) in error.
    case errors(Bool)
    /// From the earliest span start to the latest span end.
    case durationOver(Duration)
    case spanCountOver(Int)
    case rootName(String)
    case rootService(String)
    /// Some span's service.
    case service(String)
    /// Root present and no parent missing (or, with false, not).
    case complete(Bool)
    /// Some span has this attribute with this value (its text: `200`, `true`).
    case attribute(key: String, value: String)

    /// The `attribute` conditions, each once, in order: what a store must
    /// look for in the spans of a trace.
    public var attributeTests: [AttributeTest] {
        var out: [AttributeTest] = []
        func walk(_ c: NotificationCondition) {
            switch c {
            case .any(let list), .all(let list): list.forEach(walk)
            case .not(let inner): walk(inner)
            case .attribute(let key, let value):
                let test = AttributeTest(key: key, value: value)
                if !out.contains(test) { out.append(test) }
            default: break
            }
        }
        walk(self)
        return out
    }

    /// Whether the trace is notified; `hasAttribute` answers the `attribute`
    /// conditions (asked only when reached).
    public func matches(_ trace: TraceConclusion, hasAttribute: (AttributeTest) -> Bool) -> Bool {
        switch self {
        case .any(let list): list.contains { $0.matches(trace, hasAttribute: hasAttribute) }
        case .all(let list): list.allSatisfy { $0.matches(trace, hasAttribute: hasAttribute) }
        case .not(let inner): !inner.matches(trace, hasAttribute: hasAttribute)
        case .errors(let wanted): (trace.errorCount > 0) == wanted
        case .durationOver(let d): trace.durationMs > Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
        case .spanCountOver(let n): trace.spanCount > n
        case .rootName(let name): trace.rootName == name
        case .rootService(let name): trace.rootService == name
        case .service(let name): trace.services.contains(name)
        case .complete(let wanted): trace.complete == wanted
        case .attribute(let key, let value): hasAttribute(AttributeTest(key: key, value: value))
        }
    }

    /// Reads a `when` mapping: exactly one key.
    public static func read(_ map: ConfigMap) -> NotificationCondition? {
        let keys = map.keys
        guard keys.count == 1, let key = keys.first else {
            map.report(nil, "expected exactly one of any, all, not, errors, duration_over, span_count_over, root_name, root_service, service, complete, attribute")
            for k in keys { _ = map.value(k) }
            return nil
        }
        let result: NotificationCondition?
        switch key {
        case "any", "all":
            let list = map.value(key)?.mapList()?.compactMap(read) ?? []
            if list.isEmpty { map.report(key, "must list at least one condition") }
            result = list.isEmpty ? nil : (key == "any" ? .any(list) : .all(list))
        case "not":
            result = read(map.map("not")).map { .not($0) }
        case "errors":
            result = map.value("errors")?.bool().map { .errors($0) }
        case "complete":
            result = map.value("complete")?.bool().map { .complete($0) }
        case "duration_over":
            result = map.value("duration_over")?.duration().map { .durationOver($0) }
        case "span_count_over":
            result = map.value("span_count_over")?.int(range: 0...Int.max).map { .spanCountOver($0) }
        case "root_name", "root_service", "service":
            guard let name = map.string(key) else { return nil }
            result = key == "root_name" ? .rootName(name) : key == "root_service" ? .rootService(name) : .service(name)
        case "attribute":
            let a = map.map("attribute")
            let k = a.string("key", default: "")
            if k.isEmpty { a.report("key", "is required") }
            guard let v = a.value("value") else {
                a.report(nil, "value is required")
                a.finish()
                return nil
            }
            let text = v.attributeValue().map(Self.text) ?? ""
            a.finish()
            result = k.isEmpty ? nil : .attribute(key: k, value: text)
        default:
            map.report(key, "unknown condition; expected any, all, not, errors, duration_over, span_count_over, root_name, root_service, service, complete or attribute")
            _ = map.value(key)
            result = nil
        }
        map.finish()
        return result
    }

    /// The text an attribute value is compared by.
    static func text(_ value: AnyValue) -> String {
        switch value {
        case .string(let s): s
        case .bool(let b): b ? "true" : "false"
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        default: ""
        }
    }
}

/// `attribute: { key, value }` of a condition.
public struct AttributeTest: Sendable, Hashable {
    public var key: String
    public var value: String

    /// Whether a span (or its resource) has it.
    func matches(_ attributes: [Attribute]) -> Bool {
        guard let v = attributes[key: key] else { return false }
        return NotificationCondition.text(v) == value
    }
}
