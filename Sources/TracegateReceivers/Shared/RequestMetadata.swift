import TracegateCore

/// `receivers.otlp.include_metadata` and `metadata_keys`: what the gateway
/// knows of a request (chosen headers, the client's address) written into
/// the resource attributes of its spans, where `batch.metadata_keys`,
/// `routing` and the store see it. The tenant of a bearer token is written
/// the same way (`BearerAuth`).
public struct RequestMetadataConfig: Sendable, Equatable {
    /// `include_metadata`: write the client's address (`client.address`) and
    /// the `metadata_keys` headers into resource attributes.
    public var include = false
    /// `metadata_keys`: request headers (HTTP) or metadata (gRPC) copied to
    /// the resource attribute of the same, lowercased, name.
    public var keys: [String] = []

    public init(include: Bool = false, keys: [String] = []) {
        self.include = include
        self.keys = keys
    }

    /// The resource attribute of the client's address (the OpenTelemetry
    /// semantic convention's name).
    public static let clientAddressAttribute = "client.address"

    public static func read(_ map: ConfigMap) -> RequestMetadataConfig {
        var c = RequestMetadataConfig()
        c.include = map.bool("include_metadata", default: false)
        if let list = map.stringList("metadata_keys") {
            var seen = Set<String>()
            for (i, (key, line)) in list.enumerated() {
                let lower = key.lowercased()
                let path = "\(map.path).metadata_keys[\(i)]"
                if lower.isEmpty || !lower.utf8.allSatisfy(Self.isHeaderNameByte) {
                    map.diagnostics.report(line: line, path: path, "'\(key)' is not a header name")
                } else if lower.hasPrefix(":") || lower == "authorization" {
                    map.diagnostics.report(line: line, path: path, "\(lower) cannot be copied into attributes")
                } else if !seen.insert(lower).inserted {
                    map.diagnostics.report(line: line, path: path, "\(lower) is listed twice")
                } else {
                    c.keys.append(lower)
                }
            }
            if !c.include && !list.isEmpty { map.report("metadata_keys", "takes effect only with include_metadata: true") }
        }
        return c
    }

    /// RFC 9110 token characters, lowercase (names are compared lowercased).
    private static func isHeaderNameByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(b)
        }
    }

    /// The attributes to write for one request: the chosen headers and the
    /// client's address when `include_metadata`, then the tenant, which
    /// nothing may override.
    public func stamp(header: (String) -> String?, clientAddress: String?, tenant: (attribute: String, name: String)?) -> ResourceStamp {
        var attributes: [Attribute] = []
        if include {
            if let clientAddress { attributes.append(Attribute(Self.clientAddressAttribute, .string(clientAddress))) }
            for key in keys {
                if let value = header(key) { attributes.append(Attribute(key, .string(value))) }
            }
        }
        if let tenant {
            attributes.removeAll { $0.key == tenant.attribute }
            attributes.append(Attribute(tenant.attribute, .string(tenant.name)))
        }
        return ResourceStamp(attributes: attributes)
    }
}

/// Resource attributes the gateway sets on every resource of a request. They
/// replace attributes of the same key the client sent: a client cannot
/// forge what the gateway observed (its tenant, its address).
public struct ResourceStamp: Sendable, Equatable {
    public var attributes: [Attribute]

    public static let none = ResourceStamp(attributes: [])

    public var isEmpty: Bool { attributes.isEmpty }

    public func apply(to batch: inout SpanBatch) {
        guard !attributes.isEmpty else { return }
        for i in batch.resourceSpans.indices {
            batch.resourceSpans[i].resource.attributes.removeAll { existing in attributes.contains { $0.key == existing.key } }
            batch.resourceSpans[i].resource.attributes.append(contentsOf: attributes)
        }
    }
}
