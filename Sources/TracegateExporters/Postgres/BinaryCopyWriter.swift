/// PostgreSQL's binary COPY stream, written in place: the 19-byte header,
/// then per row the column count and per column an int32 length (-1 for
/// NULL) and the value in its type's binary send format, then the int16
/// trailer -1. The one owner of that framing: `trace_spans` rows and the
/// trace-summary staging rows both go through it.
///
/// JSON columns are written straight into the stream by `json` (a
/// `JSONWriter` whose buffer *is* the stream), between `beginJSONB` and
/// `endJSONB`, with no buffer per column.
struct BinaryCopyWriter {
    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    static var headerLength: Int { header.count }

    /// Columns of every row; each row must write exactly this many fields.
    let columnCount: Int16
    var json: JSONWriter
    #if DEBUG
    private var fieldsInRow = -1
    #endif

    /// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
    static let postgresEpochOffsetMicros: Int64 = 946_684_800_000_000

    init(columns: Int, capacity: Int, maxValueBytes: Int = 0) {
        columnCount = Int16(columns)
        json = JSONWriter(into: [], maxValueBytes: maxValueBytes)
        json.out.reserveCapacity(capacity)
        json.out.append(contentsOf: Self.header)
    }

    var count: Int { json.out.count }

    mutating func beginRow() {
        checkRowComplete()
        Self.int16(columnCount, &json.out)
        #if DEBUG
        fieldsInRow = 0
        #endif
    }

    /// The stream with its trailer.
    mutating func finish() -> [UInt8] {
        checkRowComplete()
        Self.int16(-1, &json.out)
        return json.out
    }

    /// The stream of rows `range` of a finished stream whose rows start at
    /// `rowStarts` (the last entry: the trailer's offset): header, those
    /// rows, trailer, without encoding them again.
    static func slice(_ payload: [UInt8], rowStarts: [Int], _ range: Range<Int>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerLength + rowStarts[range.upperBound] - rowStarts[range.lowerBound] + 2)
        out.append(contentsOf: payload[0..<headerLength])
        out.append(contentsOf: payload[rowStarts[range.lowerBound]..<rowStarts[range.upperBound]])
        int16(-1, &out)
        return out
    }

    // MARK: fields

    mutating func null() {
        counted()
        Self.int32(-1, &json.out)
    }

    mutating func int16(_ v: Int16) {
        counted()
        Self.int32(2, &json.out)
        Self.int16(v, &json.out)
    }

    mutating func int32(_ v: Int32) {
        counted()
        Self.int32(4, &json.out)
        Self.int32(v, &json.out)
    }

    mutating func int64(_ v: Int64) {
        counted()
        Self.int32(8, &json.out)
        Self.int64(v, &json.out)
    }

    /// A 16-byte `bytea` (trace id) from its two halves.
    mutating func bytes16(high: UInt64, low: UInt64) {
        counted()
        Self.int32(16, &json.out)
        Self.int64(Int64(bitPattern: high), &json.out)
        Self.int64(Int64(bitPattern: low), &json.out)
    }

    /// An 8-byte `bytea` (span id), or NULL.
    mutating func bytes8(_ v: UInt64?) {
        guard let v else { return null() }
        counted()
        Self.int32(8, &json.out)
        Self.int64(Int64(bitPattern: v), &json.out)
    }

    mutating func text(_ s: String) {
        counted()
        Self.text(s, &json.out)
    }

    mutating func text(_ s: String?) {
        guard let s else { return null() }
        text(s)
    }

    /// `timestamptz` from nanoseconds since the Unix epoch (microseconds kept).
    mutating func timestamp(unixNanos: UInt64) {
        counted()
        Self.int32(8, &json.out)
        Self.int64(Int64(unixNanos / 1000) - Self.postgresEpochOffsetMicros, &json.out)
    }

    /// A `jsonb` value already rendered (version byte included).
    mutating func jsonb(rendered bytes: [UInt8]) {
        counted()
        Self.int32(Int32(bytes.count), &json.out)
        json.out.append(contentsOf: bytes)
    }

    /// Reserves the length word of a `jsonb` value that `json` writes next;
    /// `endJSONB` patches the length.
    mutating func beginJSONB() -> Int {
        counted()
        let lengthAt = json.out.count
        Self.int32(0, &json.out)
        json.out.append(1)  // jsonb binary format version
        return lengthAt
    }

    mutating func endJSONB(_ lengthAt: Int) {
        let length = Int32(json.out.count - lengthAt - 4)
        json.out.withUnsafeMutableBytes { $0.storeBytes(of: length.bigEndian, toByteOffset: lengthAt, as: Int32.self) }
    }

    /// `text[]`.
    mutating func textArray(_ items: [String]) {
        array(elementOID: 25, count: items.count) { out in
            for item in items { Self.text(item, &out) }
        }
    }

    /// `bytea[]` of 8-byte ids.
    mutating func bytes8Array(_ items: [UInt64]) {
        array(elementOID: 17, count: items.count) { out in
            for item in items {
                Self.int32(8, &out)
                Self.int64(Int64(bitPattern: item), &out)
            }
        }
    }

    /// A one-dimensional array in PostgreSQL's binary array format: ndim,
    /// has-nulls flag, element type oid, then length and lower bound of the
    /// dimension, then each element as length + bytes.
    private mutating func array(elementOID: Int32, count: Int, _ elements: (inout [UInt8]) -> Void) {
        counted()
        let lengthAt = json.out.count
        Self.int32(0, &json.out)
        Self.int32(1, &json.out)
        Self.int32(0, &json.out)
        Self.int32(elementOID, &json.out)
        Self.int32(Int32(count), &json.out)
        Self.int32(1, &json.out)
        elements(&json.out)
        let length = Int32(json.out.count - lengthAt - 4)
        json.out.withUnsafeMutableBytes { $0.storeBytes(of: length.bigEndian, toByteOffset: lengthAt, as: Int32.self) }
    }

    // MARK: framing checks (debug builds)

    @inline(__always) private mutating func counted() {
        #if DEBUG
        fieldsInRow += 1
        #endif
    }

    private func checkRowComplete() {
        #if DEBUG
        precondition(fieldsInRow < 0 || fieldsInRow == Int(columnCount), "a COPY row wrote \(fieldsInRow) of \(columnCount) columns")
        #endif
    }

    // MARK: raw big-endian writes

    @inline(__always) static func int16(_ v: Int16, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always) static func int32(_ v: Int32, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always) static func int64(_ v: Int64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always) static func text(_ s: String, _ out: inout [UInt8]) {
        var s = s
        s.withUTF8 { bytes in
            int32(Int32(bytes.count), &out)
            out.append(contentsOf: bytes)
        }
    }
}
