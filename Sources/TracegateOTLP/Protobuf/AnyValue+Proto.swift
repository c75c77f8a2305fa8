import COTLP
import CProtobufC
import TracegateCore

/// Levels of messages below the request at which attribute values sit, as the
/// nesting limit counts them (request 0, ResourceSpans 1, …): resource
/// attributes' values at 4, scope and span attributes' at 5, event and link
/// attributes' at 6. Every value below adds one level for its ArrayValue or
/// KeyValueList and one per KeyValue and AnyValue.
enum ValueLevel {
    static let resourceAttribute = 4
    static let scopeAttribute = 5
    static let spanAttribute = 5
    static let eventAttribute = 6
    static let linkAttribute = 6
}

extension AnyValue {
    /// Maps a protoc-c `AnyValue` at `level` (see `ValueLevel`). The oneof
    /// case numbers are the proto field numbers. `string_value_strindex` (8)
    /// only has meaning in profiles, where a dictionary goes with it; a trace
    /// request carrying it gets `.empty`. Scalars, nearly every attribute, are
    /// mapped inline in the caller's loop; arrays, kvlists and bytes go to
    /// `init(composite:strings:level:)`.
    @inline(__always)
    init(proto: UnsafePointer<CAnyValue>?, strings: borrowing StringTable, level: Int) {
        guard let proto else {
            self = .empty
            return
        }
        switch proto.pointee.value_case.rawValue {
        case 1: self = .string(strings.string(proto.pointee.string_value))
        case 2: self = .bool(proto.pointee.bool_value != 0)
        case 3: self = .int(proto.pointee.int_value)
        case 4: self = .double(proto.pointee.double_value)
        default: self = AnyValue(composite: proto, strings: strings, level: level)
        }
    }

    /// Arrays and kvlists arrive as bytes (common.proto declares them so,
    /// which keeps protobuf-c from recursing into them): each is unpacked
    /// here, one level at a time, and a message past `NestingLimit.levels`
    /// is not unpacked at all but marks the request for refusal. The
    /// recursion of this function is bounded by that limit.
    @inline(never)
    private init(composite proto: UnsafePointer<CAnyValue>, strings: borrowing StringTable, level: Int) {
        let v = proto.pointee
        switch v.value_case.rawValue {
        case 5:
            // The ArrayValue at level + 1, its values at level + 2.
            guard level + 1 <= NestingLimit.levels else {
                strings.nestingPassed = true
                self = .empty
                return
            }
            let bytes = v.array_value
            guard bytes.len > 0 else {
                self = .array([])
                return
            }
            guard let array = opentelemetry__proto__common__v1__array_value__unpack(strings.allocator, bytes.len, bytes.data) else {
                strings.nestedMalformed = true
                self = .empty
                return
            }
            defer { if strings.allocator == nil { opentelemetry__proto__common__v1__array_value__free_unpacked(array, nil) } }
            let count = array.pointee.n_values
            if count > 0 && level + 2 > NestingLimit.levels {
                strings.nestingPassed = true
                self = .empty
                return
            }
            var values: [AnyValue] = []
            values.reserveCapacity(count)
            for i in 0..<count {
                values.append(AnyValue(proto: array.pointee.values[i], strings: strings, level: level + 2))
                if strings.nestingPassed || strings.nestedMalformed { break }
            }
            self = .array(values)
        case 6:
            // The KeyValueList at level + 1, its KeyValues at + 2, their values at + 3.
            guard level + 1 <= NestingLimit.levels else {
                strings.nestingPassed = true
                self = .empty
                return
            }
            let bytes = v.kvlist_value
            guard bytes.len > 0 else {
                self = .kvlist([])
                return
            }
            guard let list = opentelemetry__proto__common__v1__key_value_list__unpack(strings.allocator, bytes.len, bytes.data) else {
                strings.nestedMalformed = true
                self = .empty
                return
            }
            defer { if strings.allocator == nil { opentelemetry__proto__common__v1__key_value_list__free_unpacked(list, nil) } }
            self = .kvlist([Attribute](proto: list.pointee.n_values, list.pointee.values, strings: strings, level: level + 3))
        case 7:
            let b = v.bytes_value
            self = .bytes(b.len > 0 && b.data != nil ? Array(UnsafeBufferPointer(start: b.data, count: b.len)) : [])
        default:
            self = .empty
        }
    }
}

extension Array where Element == Attribute {
    /// Maps a repeated `KeyValue` field whose values sit at `level` (the
    /// KeyValues one above; see `ValueLevel`).
    init(proto count: Int, _ items: UnsafeMutablePointer<UnsafeMutablePointer<CKeyValue>?>?, strings: borrowing StringTable, level: Int) {
        self.init()
        guard count > 0, let items else { return }
        if level > NestingLimit.levels {
            // Only inside a kvlist: top-level attributes sit at 4 to 6. A
            // KeyValue past the limit, or a value of one.
            if level - 1 > NestingLimit.levels || (0..<count).contains(where: { items[$0]?.pointee.value != nil }) {
                strings.nestingPassed = true
                return
            }
        }
        // reserveCapacity, not init(unsafeUninitializedCapacity:): that one
        // goes through an unspecialized stdlib entry that looks up the
        // storage's generic metadata at run time on every call.
        reserveCapacity(count)
        for i in 0..<count {
            guard let kv = items[i] else { continue }
            append(Attribute(strings.string(kv.pointee.key), AnyValue(proto: kv.pointee.value, strings: strings, level: level)))
        }
    }
}
