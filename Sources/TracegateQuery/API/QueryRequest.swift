import TracegateCore

/// A request's path and query string, percent-decoded.
struct QueryRequest: Sendable {
    /// Path segments after the leading `/`, each percent-decoded (`/api/services/a%2Fb/operations`
    /// → `["api", "services", "a/b", "operations"]`).
    var segments: [String]
    var rawPath: String
    /// Query parameters in order; a key may repeat (`tag=a:1&tag=b:2`).
    var parameters: [(String, String)]
    /// The `Authorization` header, if any.
    var authorization: String?
    /// The `If-None-Match` header, if any.
    var ifNoneMatch: String?

    /// Nil when the target is not a path or its escapes are not UTF-8.
    init?(uri: String, authorization: String? = nil) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0])
        guard path.hasPrefix("/") else { return nil }
        rawPath = path
        var segments: [String] = []
        for piece in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard let s = Self.percentDecoded(piece, plusIsSpace: false) else { return nil }
            segments.append(s)
        }
        self.segments = segments
        parameters = []
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&", omittingEmptySubsequences: true) {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let key = Self.percentDecoded(kv[0], plusIsSpace: true),
                    let value = Self.percentDecoded(kv.count > 1 ? kv[1] : "", plusIsSpace: true)
                else { return nil }
                parameters.append((key, value))
            }
        }
        self.authorization = authorization
    }

    /// The last value of a parameter; empty values count as absent (Jaeger's UI sends `minDuration=`).
    func value(_ key: String) -> String? {
        guard let v = parameters.last(where: { $0.0 == key })?.1, !v.isEmpty else { return nil }
        return v
    }

    func values(_ key: String) -> [String] {
        parameters.filter { $0.0 == key }.map(\.1)
    }

    static func percentDecoded(_ text: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var it = text.utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
                bytes.append(hv << 4 | lv)
            } else if b == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// What the API answers.
struct QueryResponse: Sendable {
    var status: Int
    var contentType: String
    var body: [UInt8]
    var headers: [(String, String)] = []

    static func json(_ text: String, status: Int = 200) -> QueryResponse {
        QueryResponse(status: status, contentType: "application/json", body: Array(text.utf8))
    }

    /// Jaeger's envelope around `data` (already JSON text).
    static func data(_ dataJSON: String, total: Int) -> QueryResponse {
        .json("{\"data\":\(dataJSON),\"total\":\(total),\"limit\":0,\"offset\":0,\"errors\":null}")
    }

    /// Jaeger's error shape: `{"data": null, …, "errors": [{"code", "msg"}]}`.
    static func error(_ status: Int, _ message: String) -> QueryResponse {
        var text = "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":\(status),\"msg\":"
        JSONString.append(message, to: &text)
        text += "}]}"
        return .json(text, status: status)
    }
}

/// A failure that answers with Jaeger's error shape.
struct QueryFailure: Error, Sendable {
    var status: Int
    var message: String

    static func badRequest(_ message: String) -> QueryFailure { QueryFailure(status: 400, message: message) }
    static func notFound(_ message: String) -> QueryFailure { QueryFailure(status: 404, message: message) }
}
