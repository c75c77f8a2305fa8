/// An OTLP attribute value (`opentelemetry.proto.common.v1.AnyValue`).
public enum AnyValue: Hashable, Sendable {
    /// A value whose oneof was not set.
    case empty
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case array([AnyValue])
    case kvlist([Attribute])
}

/// One key/value pair (`KeyValue`). Attributes keep the order they arrived in.
public struct Attribute: Hashable, Sendable {
    public var key: String
    public var value: AnyValue

    public init(_ key: String, _ value: AnyValue) {
        self.key = key
        self.value = value
    }
}

extension Array where Element == Attribute {
    /// The value of the first attribute with this key.
    public subscript(key key: String) -> AnyValue? {
        first(where: { $0.key == key })?.value
    }
}
