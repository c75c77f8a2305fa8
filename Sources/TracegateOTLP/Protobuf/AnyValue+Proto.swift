import COTLP
import TracegateCore

extension AnyValue {
    /// Maps a protoc-c `AnyValue`. The oneof case numbers are the proto field
    /// numbers. `string_value_strindex` (8) only has meaning in profiles, where a
    /// dictionary goes with it; a trace request carrying it gets `.empty`.
    /// Scalars, nearly every attribute, are mapped inline in the caller's
    /// loop; arrays, kvlists and bytes go to `init(composite:strings:)`.
    @inline(__always)
    init(proto: UnsafePointer<CAnyValue>?, strings: borrowing StringTable) {
        guard let proto else {
            self = .empty
            return
        }
        switch proto.pointee.value_case.rawValue {
        case 1: self = .string(strings.string(proto.pointee.string_value))
        case 2: self = .bool(proto.pointee.bool_value != 0)
        case 3: self = .int(proto.pointee.int_value)
        case 4: self = .double(proto.pointee.double_value)
        default: self = AnyValue(composite: proto, strings: strings)
        }
    }

    @inline(never)
    private init(composite proto: UnsafePointer<CAnyValue>, strings: borrowing StringTable) {
        let v = proto.pointee
        switch v.value_case.rawValue {
        case 5:
            var values: [AnyValue] = []
            if let array = v.array_value?.pointee, array.n_values > 0 {
                values.reserveCapacity(array.n_values)
                for i in 0..<array.n_values { values.append(AnyValue(proto: array.values[i], strings: strings)) }
            }
            self = .array(values)
        case 6:
            self = .kvlist(v.kvlist_value.map { [Attribute](proto: $0.pointee.n_values, $0.pointee.values, strings: strings) } ?? [])
        case 7:
            let b = v.bytes_value
            self = .bytes(b.len > 0 && b.data != nil ? Array(UnsafeBufferPointer(start: b.data, count: b.len)) : [])
        default:
            self = .empty
        }
    }
}

extension Array where Element == Attribute {
    /// Maps a repeated `KeyValue` field.
    init(proto count: Int, _ items: UnsafeMutablePointer<UnsafeMutablePointer<CKeyValue>?>?, strings: borrowing StringTable) {
        self.init()
        guard count > 0, let items else { return }
        // reserveCapacity, not init(unsafeUninitializedCapacity:): that one
        // goes through an unspecialized stdlib entry that looks up the
        // storage's generic metadata at run time on every call.
        reserveCapacity(count)
        for i in 0..<count {
            guard let kv = items[i] else { continue }
            append(Attribute(strings.string(kv.pointee.key), AnyValue(proto: kv.pointee.value, strings: strings)))
        }
    }
}
