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
    /// The tenant of each token (same order); nil where tokens have none
    /// (`bearer_tokens` as a list).
    let tenants: [String?]
    /// The resource attribute the tenant is written to (`tenant_attribute`).
    public let tenantAttribute: String

    public init(tokens: [String]) {
        self.tokens = tokens.map { Array($0.utf8) }
        self.tenants = tokens.map { _ in nil }
        self.tenantAttribute = Self.defaultTenantAttribute
    }

    /// Tokens with the tenant each one names.
    public init(tenantTokens: [(tenant: String, token: String)], tenantAttribute: String = BearerAuth.defaultTenantAttribute) {
        self.tokens = tenantTokens.map { Array($0.token.utf8) }
        self.tenants = tenantTokens.map(\.tenant)
        self.tenantAttribute = tenantAttribute
    }

    public static let defaultTenantAttribute = "tenant"

    public var tokenCount: Int { tokens.count }

    /// Whether the tokens name tenants.
    public var hasTenants: Bool { tenants.contains { $0 != nil } }

    /// Keeps the tokens out of logs and `dump`s of the configuration.
    public var description: String { "BearerAuth(\(tokens.count) token(s))" }

    /// Keeps them out of `dump` and mirrors too.
    public var customMirror: Mirror { Mirror(self, children: ["tokenCount": tokens.count]) }

    /// What a request's `Authorization` header earns it.
    public enum Verdict: Sendable, Equatable {
        case denied
        /// Allowed; `tenant` is the presented token's tenant, if tokens have them.
        case allowed(tenant: String?)
    }

    /// Whether an `Authorization` header value carries one of the tokens, and
    /// whose. The scheme is case-insensitive (RFC 7235); every token is
    /// compared, in time that depends on the tokens' lengths only, not on
    /// where they differ or which one matched.
    public func verdict(header: String?) -> Verdict {
        guard let header, let presented = Self.bearerCredentials(header) else { return .denied }
        var match = -1
        for (i, token) in tokens.enumerated() {
            // Compare with every token, even after a match.
            let equal = Self.constantTimeEquals(presented, token)
            match = equal && match < 0 ? i : match
        }
        return match >= 0 ? .allowed(tenant: tenants[match]) : .denied
    }

    /// Whether an `Authorization` header value carries one of the tokens.
    public func authorizes(header: String?) -> Bool { verdict(header: header) != .denied }

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
    ///
    /// `bearer_tokens` is a list of tokens, or a mapping of tenant name to a
    /// token or a list of tokens. Tenants are the keys, not the tokens: keys
    /// cannot take `${env:…}` and are printed in configuration errors, and a
    /// token must be neither in the file nor in an error message.
    public static func read(_ map: ConfigMap) -> BearerAuth? {
        var tokens: [(tenant: String?, token: String)] = []
        var usable = true
        func take(_ token: String, line: Int, path: String, tenant: String?) {
            let trimmed = token.trimmingBlanks()
            if trimmed.isEmpty {
                map.diagnostics.report(line: line, path: path, "token is empty (is its environment variable set?)")
                usable = false
            } else if trimmed.contains(where: \.isWhitespace) {
                map.diagnostics.report(line: line, path: path, "token must not contain whitespace")
                usable = false
            } else {
                tokens.append((tenant, trimmed))
            }
        }
        var named = false
        if let value = map.value("bearer_tokens") {
            if value.isMapping {
                named = true
                let byTenant = map.map("bearer_tokens")
                for tenant in byTenant.keys {
                    guard let v = byTenant.value(tenant) else { continue }
                    if tenant.isEmpty || tenant.contains(where: { $0.isNewline || $0 == "\u{0}" }) {
                        byTenant.report(tenant, "a tenant name must be a non-empty single line")
                        usable = false
                        continue
                    }
                    if v.isList, let list = v.stringList() {
                        if list.isEmpty {
                            byTenant.report(tenant, "must list at least one token")
                            usable = false
                        }
                        for (i, (token, line)) in list.enumerated() { take(token, line: line, path: "\(v.path)[\(i)]", tenant: tenant) }
                    } else if let token = v.string() {
                        take(token, line: v.line, path: v.path, tenant: tenant)
                    } else {
                        usable = false
                    }
                }
                if byTenant.isEmpty {
                    map.report("bearer_tokens", "must name at least one tenant")
                    usable = false
                }
                byTenant.finish()
            } else if let list = value.stringList() {
                for (i, (token, line)) in list.enumerated() { take(token, line: line, path: "\(value.path)[\(i)]", tenant: nil) }
                if list.isEmpty {
                    map.report("bearer_tokens", "must list at least one token")
                    usable = false
                }
            } else {
                usable = false
            }
        }
        if let path = map.string("bearer_tokens_file") {
            if path.isEmpty {
                map.report("bearer_tokens_file", "must name a file")
                usable = false
            } else if named {
                map.report("bearer_tokens_file", "cannot be combined with bearer_tokens naming tenants: its tokens would have none")
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
                        tokens.append((nil, token))
                    }
                }
            } else {
                map.report("bearer_tokens_file", "cannot read \(path)")
                usable = false
            }
        }
        let attribute = map.string("tenant_attribute", default: defaultTenantAttribute)
        if attribute.isEmpty { map.report("tenant_attribute", "must not be empty") }
        if map.has("tenant_attribute") && !named {
            map.report("tenant_attribute", "only applies when bearer_tokens maps tenants to tokens")
        }
        if !map.has("bearer_tokens") && !map.has("bearer_tokens_file") {
            map.report(nil, "set bearer_tokens or bearer_tokens_file")
            usable = false
        }
        map.finish()
        guard usable && !tokens.isEmpty else { return nil }
        if named {
            return BearerAuth(tenantTokens: tokens.map { ($0.tenant ?? "", $0.token) }, tenantAttribute: attribute)
        }
        return BearerAuth(tokens: tokens.map(\.token))
    }
}
