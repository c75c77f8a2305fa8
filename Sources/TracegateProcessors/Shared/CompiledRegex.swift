import TracegateCore

/// A regular expression compiled once, when the configuration is read, so a
/// bad pattern is a configuration error at its line and spans never pay for
/// compiling it. Matching is a search (unanchored, as in the collector's Go
/// `regexp.MatchString`): write `^…$` to match a whole value.
public struct CompiledRegex: @unchecked Sendable, Equatable, CustomStringConvertible {
    // @unchecked: `Regex` is Sendable only when its `Output` is, and
    // `AnyRegexOutput` (type-erased captures) is not. The regex itself is an
    // immutable value whose compiled program the standard library publishes
    // atomically; this type never reads a match's output (it only asks
    // whether there is a match), so no capture value crosses threads.
    /// The pattern as written in the configuration.
    public let source: String
    private let regex: Regex<AnyRegexOutput>

    /// Compiles `source`; throws the compiler's error for an invalid pattern.
    public init(_ source: String) throws {
        self.regex = try Regex(source)
        self.source = source
    }

    /// Whether the pattern occurs anywhere in `text`.
    public func matches(_ text: String) -> Bool {
        (try? regex.firstMatch(in: text)) != nil
    }

    public var description: String { source }

    public static func == (a: CompiledRegex, b: CompiledRegex) -> Bool { a.source == b.source }
}

extension CompiledRegex {
    /// Reads a pattern from the configuration; a pattern that does not compile
    /// is reported at its line.
    static func read(_ value: ConfigValue?) -> CompiledRegex? {
        guard let value, let text = value.string() else { return nil }
        do {
            return try CompiledRegex(text)
        } catch {
            value.reportProblem("invalid regular expression '\(text)': \(error)")
            return nil
        }
    }
}
