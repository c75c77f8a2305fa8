import COTLP
import TracegateCore

extension AnyValue {
    /// Maps a protoc-c `AnyValue`. The oneof case numbers are the proto field
    /// numbers. `string_value_strindex` (8) only has meaning in profiles, where a
    /// dictionary goes with it; a trace request carrying it gets `.empty`.
    init(proto: UnsafePointer<CAnyValue>?, strings: borrowing StringTable) {
        guard let v = proto?.pointee else {
            self = .empty
            return
        }
        switch v.value_case.rawValue {
        case 1: self = .string(strings.string(v.string_value))
        case 2: self = .bool(v.bool_value != 0)
        case 3: self = .int(v.int_value)
        case 4: self = .double(v.double_value)
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
        guard count > 0, let items else {
            self.init()
            return
        }
        // Filled in place: one allocation, no capacity check per element.
        self.init(unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                guard let kv = items[i] else { continue }
                (buffer.baseAddress! + initialized).initialize(
                    to: Attribute(strings.string(kv.pointee.key), AnyValue(proto: kv.pointee.value, strings: strings)))
                initialized += 1
            }
        }
    }
}
