import TracegateCore

/// Settings of the `attributes` processor and of the `resource` processor,
/// which share one implementation and differ only in their list key
/// (`actions` / `attributes`, as in the collector) and `apply_to` default.
public struct AttributesProcessorConfig: Sendable, Equatable {
    /// Which attribute sets the actions change.
    public enum Target: String, Sendable, CaseIterable {
        /// Span attributes.
        case span
        /// Resource attributes.
        case resource
        /// Both, resource first.
        case both
    }

    /// The actions, applied in order to each attribute set.
    public var actions: [AttributeAction] = []
    /// `apply_to`: `span` (attributes processor default), `resource` (resource
    /// processor default) or `both`.
    public var applyTo: Target

    public init(actions: [AttributeAction] = [], applyTo: Target = .span) {
        self.actions = actions
        self.applyTo = applyTo
    }

    /// Reads an `attributes` processor: `actions`, `apply_to` (default `span`).
    public static func read(_ map: ConfigMap) -> AttributesProcessorConfig {
        read(map, listKey: "actions", defaultTarget: .span)
    }

    /// Reads a `resource` processor: `attributes`, `apply_to` (default `resource`).
    public static func readResource(_ map: ConfigMap) -> AttributesProcessorConfig {
        read(map, listKey: "attributes", defaultTarget: .resource)
    }

    static func read(_ map: ConfigMap, listKey: String, defaultTarget: Target) -> AttributesProcessorConfig {
        var c = AttributesProcessorConfig(applyTo: defaultTarget)
        if let list = map.value(listKey) {
            if let items = list.mapList() {
                c.actions = items.compactMap(AttributeAction.read)
                if items.isEmpty { map.report(listKey, "must not be empty") }
            }
        } else {
            map.report(nil, "\(listKey) is required: a list of {key or pattern, action, …}")
        }
        if let text = map.string("apply_to") {
            if let target = Target(rawValue: text) { c.applyTo = target } else {
                map.report("apply_to", "expected span, resource or both; got '\(text)'")
            }
        }
        map.finish()
        return c
    }
}
