/// Readers for values that are not a single scalar: nested mappings, lists of
/// mappings (`actions: [{key: …, action: …}]`), and scalars whose YAML type
/// matters (an attribute value that may be a string, a number or a boolean).
extension ConfigValue {
    /// Reports a problem about this value at its line.
    public func reportProblem(_ message: String) { report(message) }

    /// True when the value is a YAML sequence.
    public var isList: Bool {
        if case .sequence = node { return true }
        return false
    }

    /// True when the value is a YAML mapping.
    public var isMapping: Bool {
        if case .mapping = node { return true }
        return false
    }

    /// The value read as a mapping (a problem is reported when it is not one).
    public func mapping() -> ConfigMap {
        ConfigMap(path: path, node: node, keyLine: line, diagnostics: diagnostics)
    }

    /// The items of a sequence, each with its path `path[i]`; nil (and a
    /// reported problem) when the value is not a sequence.
    public func items() -> [ConfigValue]? {
        guard case .sequence(let seq, _, _) = node else {
            report("expected a list")
            return nil
        }
        return seq.enumerated().map { i, item in
            ConfigValue(path: "\(path)[\(i)]", node: item, keyLine: item.mark.line, diagnostics: diagnostics)
        }
    }

    /// A sequence of mappings; items that are not mappings are reported and
    /// skipped. nil (and a reported problem) when the value is not a sequence.
    public func mapList() -> [ConfigMap]? {
        guard let items = items() else { return nil }
        return items.compactMap { item in
            guard item.isMapping else {
                item.report("expected a mapping")
                return nil
            }
            return item.mapping()
        }
    }

    /// A scalar as an attribute value: quoted text is a string; plain
    /// `true`/`false` a boolean, plain integers `int`, plain decimals
    /// `double`, anything else a string. `${env:…}` is substituted first.
    public func attributeValue() -> AnyValue? {
        guard case .scalar(let scalar) = node else {
            report("expected a single value (string, number or boolean)")
            return nil
        }
        guard let text = string() else { return nil }
        switch scalar.style {
        case .singleQuoted, .doubleQuoted, .literal, .folded:
            return .string(text)
        case .plain:
            break
        }
        switch text {
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if let int = Int64(text) { return .int(int) }
        if text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let double = Double(text), double.isFinite {
            return .double(double)
        }
        return .string(text)
    }
}
