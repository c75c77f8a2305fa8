#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TracegateCore

/// Settings of `receivers.otlp.auth`: the bearer tokens every request of
/// either protocol must present (`Authorization: Bearer <token>` over HTTP,
/// `authorization` metadata over gRPC). Tokens are never logged or printed.
public struct BearerAuth: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    /// Accepted tokens, as bytes; never empty once read.
    let tokens: [[UInt8]]

    public init(tokens: [String]) {
        self.tokens = tokens.map { Array($0.utf8) }
    }

    public var tokenCount: Int { tokens.count }

    /// Keeps the tokens out of logs and `dump`s of the configuration.
    public var description: String { "BearerAuth(\(tokens.count) token(s))" }

    /// Keeps them out of `dump` and mirrors too.
    public var customMirror: Mirror { Mirror(self, children: ["tokenCount": tokens.count]) }

    /// Whether an `Authorization` header value carries one of the tokens.
    /// The scheme is case-insensitive (RFC 7235); every token is compared, in
    /// time that depends on the tokens' lengths only, not on where they differ.
    public func authorizes(header: String?) -> Bool {
        guard let header, let presented = Self.bearerCredentials(header) else { return false }
        var matches = 0
        for token in tokens {
            // Compare with every token, even after a match.
            matches += Self.constantTimeEquals(presented, token) ? 1 : 0
        }
        return matches > 0
    }

    /// The credentials of `Bearer <credentials>`; nil for another scheme or none.
    static func bearerCredentials(_ header: String) -> [UInt8]? {
        let bytes = Array(header.utf8)
        let scheme = Array("bearer".utf8)
        guard bytes.count > scheme.count else { return nil }
        for i in 0..<scheme.count where bytes[i] | 0x20 != scheme[i] { return nil }
        guard bytes[scheme.count] == UInt8(ascii: " ") else { return nil }
        var rest = bytes[(scheme.count + 1)...].drop { $0 == UInt8(ascii: " ") }
        while let last = rest.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { rest = rest.dropLast() }
        return rest.isEmpty ? nil : Array(rest)
    }

    /// Compares two byte strings in time that depends on their lengths only.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt(bitPattern: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= UInt(x ^ y)
        }
        return difference == 0
    }

    /// The tokens of a tokens file: one per line, surrounding whitespace
    /// trimmed, blank lines and `#` comment lines skipped. Each with its line.
    static func parseTokenFile(_ text: String) -> [(token: String, line: Int)] {
        var out: [(String, Int)] = []
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()
            let token = String(line)
            if token.isEmpty || token.hasPrefix("#") { continue }
            out.append((token, i + 1))
        }
        return out
    }

    /// Reads an `auth` mapping; nil (with problems reported) when it is unusable.
    public static func read(_ map: ConfigMap) -> BearerAuth? {
        var tokens: [String] = []
        var usable = true
        if let value = map.value("bearer_tokens"), let list = value.stringList() {
            for (i, (token, line)) in list.enumerated() {
                let trimmed = token.trimmingBlanks()
                if trimmed.isEmpty {
                    map.diagnostics.report(
                        line: line, path: "\(value.path)[\(i)]", "token is empty (is its environment variable set?)")
                    usable = false
                } else if trimmed.contains(where: \.isWhitespace) {
                    map.diagnostics.report(line: line, path: "\(value.path)[\(i)]", "token must not contain whitespace")
                    usable = false
                } else {
                    tokens.append(trimmed)
                }
            }
            if list.isEmpty {
                map.report("bearer_tokens", "must list at least one token")
                usable = false
            }
        }
        if let path = map.string("bearer_tokens_file") {
            if path.isEmpty {
                map.report("bearer_tokens_file", "must name a file")
                usable = false
            } else if let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) {
                let fileTokens = parseTokenFile(text)
                if fileTokens.isEmpty {
                    map.report("bearer_tokens_file", "\(path) holds no tokens")
                    usable = false
                }
                for (token, line) in fileTokens {
                    if token.contains(where: \.isWhitespace) {
                        map.report("bearer_tokens_file", "\(path):\(line): token must not contain whitespace")
                        usable = false
                    } else {
                        tokens.append(token)
                    }
                }
            } else {
                map.report("bearer_tokens_file", "cannot read \(path)")
                usable = false
            }
        }
        if !map.has("bearer_tokens") && !map.has("bearer_tokens_file") {
            map.report(nil, "set bearer_tokens or bearer_tokens_file")
            usable = false
        }
        map.finish()
        return usable && !tokens.isEmpty ? BearerAuth(tokens: tokens) : nil
    }
}
