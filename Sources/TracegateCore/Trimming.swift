extension StringProtocol {
    /// The text without leading and trailing blanks: what Foundation's
    /// `trimmingCharacters(in: .whitespaces)` gives (tab and Unicode space
    /// separators), or with `newlines` what `.whitespacesAndNewlines` gives
    /// (also U+000A–U+000D, U+0085, U+2028, U+2029). Here so that modules need
    /// only FoundationEssentials, which does not have it.
    public func trimmingBlanks(newlines: Bool = false) -> String {
        func blank(_ u: Unicode.Scalar) -> Bool {
            switch u.properties.generalCategory {
            case .spaceSeparator: return true
            case .lineSeparator, .paragraphSeparator: return newlines
            default: return u == "\t" || (newlines && (("\n"..."\r").contains(u) || u == "\u{85}"))
            }
        }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !blank($0) }), let last = scalars.lastIndex(where: { !blank($0) })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
