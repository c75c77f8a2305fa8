import TracegateCore

/// Settings the two forwarding exporters (`otlphttp`, `otlp`) read alike.
extension ConfigMap {
    /// `compression`: true for gzip, false for none; nil when absent or wrong
    /// (reported).
    func compression() -> Bool? {
        guard let text = string("compression") else { return nil }
        switch text {
        case "gzip": return true
        case "none", "": return false
        default:
            report("compression", "expected gzip or none, got '\(text)'")
            return nil
        }
    }

    /// `headers`, by lower-cased name: every name a valid header name and
    /// none of those the exporter sets itself (`reserved`, or an HTTP/2
    /// pseudo-header), no value with CR, LF or NUL (which would end the
    /// header and start another).
    func forwardingHeaders(reserved: Set<String>) -> [String: String] {
        let headers = map("headers")
        var result: [String: String] = [:]
        for key in headers.keys {
            guard let value = headers.string(key) else { continue }
            let name = key.lowercased()
            if name.hasPrefix(":") || reserved.contains(name) {
                headers.report(key, "is set by the exporter itself")
            } else if name.isEmpty || !name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }) {
                headers.report(key, "is not a valid header name")
            } else if value.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }) {
                headers.report(key, "the value must not contain CR, LF or NUL")
            } else {
                result[name] = value
            }
        }
        headers.finish()
        return result
    }
}
