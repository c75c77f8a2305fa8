import TracegateCore

/// The expression indexes of the postgres exporter's `indexed_attributes`:
/// `(coalesce(attributes->>'k', resource_attributes->>'k'), start_time)` on
/// `trace_spans` (and so on every partition), listed in
/// `tracegate_indexed_attributes`. The query extension writes the same
/// expression for a tag search on such a key, so the index serves it.
public enum AttributeIndex {
    /// Keys that can be written into SQL as they are: letters, digits and `._-:/`.
    public static func isPlainKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 200
            && key.utf8.allSatisfy { c in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_")
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: ":") || c == UInt8(ascii: "/")
            }
    }

    /// The indexed expression over the rows of `table` (an alias, or `trace_spans`).
    public static func expression(_ key: String, table: String? = nil) -> String {
        precondition(isPlainKey(key))
        let t = table.map { "\($0)." } ?? ""
        return "coalesce(\(t)attributes->>'\(key)', \(t)resource_attributes->>'\(key)')"
    }

    /// `trace_spans_attr_<key with . - : / as _>_<8 hex of its SHA-256>`, within
    /// PostgreSQL's 63-byte names.
    static func indexName(_ key: String) -> String {
        let readable = String(key.map { $0.isLetter || $0.isNumber ? $0 : "_" }.prefix(30)).lowercased()
        return "trace_spans_attr_\(readable)_\(Digests.hex(Digests.sha256(Array(key.utf8))).prefix(8))"
    }

    /// Creates the missing indexes and lists them; indexes of keys no longer
    /// configured stay (another replica may still use them): drop them with
    /// `DROP INDEX` and delete their row.
    static func ensure(_ keys: [String], _ connection: PGConnection) throws(PostgresError) {
        for key in keys {
            let name = indexName(key)
            try connection.execute(
                "CREATE INDEX IF NOT EXISTS \(name) ON trace_spans ((\(expression(key))), start_time)",
                context: "creating the index of indexed_attributes \(key)")
            try connection.execute(
                "INSERT INTO tracegate_indexed_attributes (key, index_name) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                parameters: [key, name], context: "listing the index of \(key)")
        }
    }
}
