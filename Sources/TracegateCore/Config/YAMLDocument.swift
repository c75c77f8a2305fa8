import CYAML

/// Where a YAML node starts in its file, 1-based as editors count.
struct YAMLMark: Equatable {
    let line: Int
    /// Counted in Unicode scalars, as libyaml counts.
    let column: Int

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    init(_ mark: yaml_mark_t) {
        line = mark.line + 1
        column = mark.column + 1
    }
}

/// How a scalar was written; quoted and block scalars are always strings.
enum YAMLScalarStyle {
    case plain, singleQuoted, doubleQuoted, literal, folded

    init(_ style: yaml_scalar_style_t) {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: self = .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: self = .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: self = .literal
        case YAML_FOLDED_SCALAR_STYLE: self = .folded
        default: self = .plain
        }
    }
}

/// One scalar of a YAML document.
struct YAMLScalar {
    let string: String
    /// The tag as written (`tag:yaml.org,2002:null` for `!!null`), the `str`
    /// tag for a quoted or block scalar without one (libyaml's quoted_implicit),
    /// "" for a plain scalar without one.
    /// Only explicit tags count here: `key: Null` is not the same as `key: !!null`.
    let tag: String
    let style: YAMLScalarStyle
    let mark: YAMLMark
}

/// A node of a composed YAML document: an alias is replaced by the node its
/// anchor names, so readers never see aliases. Mappings keep their keys in
/// file order; `<<` is an ordinary key (merge keys are not applied).
enum YAMLNode {
    case scalar(YAMLScalar)
    /// Items, tag as written ("" when none), position of the sequence.
    case sequence([YAMLNode], tag: String, mark: YAMLMark)
    /// Key/value pairs in file order, tag as written ("" when none), position.
    case mapping([(key: YAMLNode, value: YAMLNode)], tag: String, mark: YAMLMark)

    var mark: YAMLMark {
        switch self {
        case .scalar(let s): s.mark
        case .sequence(_, _, let mark), .mapping(_, _, let mark): mark
        }
    }

    var scalar: YAMLScalar? {
        if case .scalar(let s) = self { return s }
        return nil
    }
}

/// Why a text is not one well-formed YAML document.
enum YAMLError: Error {
    /// A scanner, parser or composer problem at a line: `context problem`
    /// (context may be empty), libyaml's wording.
    case syntax(context: String?, problem: String, line: Int)
    /// Keys repeated in one mapping (the first such mapping to close), each
    /// repeated key once, as text (`<uncovertable>` for a non-scalar key, the
    /// wording this reader has always printed).
    case duplicateKeys([String])
    /// A problem not tied to a line the way syntax errors are (a character
    /// YAML does not allow, memory): the complete message.
    case other(String)
}

/// Composes a YAML text into nodes from libyaml's event stream, with the
/// behaviour the configuration reader has always had: exactly one document
/// (none gives nil), aliases resolved to their anchored nodes, duplicate keys
/// refused, every node positioned.
enum YAMLComposer {
    private static let tagStr = "tag:yaml.org,2002:str"

    /// A collection being filled while its events arrive.
    private enum Open {
        case sequence(items: [YAMLNode], tag: String, mark: YAMLMark, anchor: String?)
        case mapping(pairs: [(key: YAMLNode, value: YAMLNode)], pendingKey: YAMLNode?, tag: String, mark: YAMLMark,
                     anchor: String?)
    }

    static func compose(_ text: String) throws(YAMLError) -> YAMLNode? {
        // libyaml reads from a pointer and length; a trailing NUL keeps the
        // pointer valid for an empty text (libyaml asserts a non-null input).
        var bytes = Array(text.utf8)
        let count = bytes.count
        bytes.append(0)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw .other("Memory error") }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        let result: Result<YAMLNode?, YAMLError> = bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, count)
            do throws(YAMLError) {
                return .success(try composeSingleDocument(&parser, text: text))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func composeSingleDocument(_ parser: inout yaml_parser_t, text: String) throws(YAMLError) -> YAMLNode? {
        var event = yaml_event_t()
        // Every event is deleted right after it is read; what is kept is copied out.
        func next() throws(YAMLError) {
            guard yaml_parser_parse(&parser, &event) == 1 else { throw parserError(parser, text: text) }
        }
        defer { yaml_event_delete(&event) }

        try next()  // STREAM-START
        yaml_event_delete(&event)
        try next()
        if event.type == YAML_STREAM_END_EVENT { return nil }
        // DOCUMENT-START, then the root node's events.
        var anchors: [String: YAMLNode] = [:]
        var stack: [Open] = []
        var root: YAMLNode? = nil

        func register(_ anchor: String?, _ node: YAMLNode) {
            // A later anchor of the same name shadows an earlier one.
            if let anchor { anchors[anchor] = node }
        }
        func finished(_ node: YAMLNode) {
            guard let top = stack.popLast() else {
                root = node
                return
            }
            switch top {
            case .sequence(var items, let tag, let mark, let anchor):
                items.append(node)
                stack.append(.sequence(items: items, tag: tag, mark: mark, anchor: anchor))
            case .mapping(var pairs, let pendingKey?, let tag, let mark, let anchor):
                pairs.append((pendingKey, node))
                stack.append(.mapping(pairs: pairs, pendingKey: nil, tag: tag, mark: mark, anchor: anchor))
            case .mapping(let pairs, nil, let tag, let mark, let anchor):
                stack.append(.mapping(pairs: pairs, pendingKey: node, tag: tag, mark: mark, anchor: anchor))
            }
        }

        repeat {
            yaml_event_delete(&event)
            try next()
            let mark = YAMLMark(event.start_mark)
            switch event.type {
            case YAML_SCALAR_EVENT:
                let data = event.data.scalar
                let value = String(decoding: UnsafeBufferPointer(start: data.value, count: data.length), as: UTF8.self)
                let tag = data.quoted_implicit != 0 ? tagStr : string(data.tag) ?? ""
                let node = YAMLNode.scalar(YAMLScalar(string: value, tag: tag, style: YAMLScalarStyle(data.style), mark: mark))
                register(string(data.anchor), node)
                finished(node)
            case YAML_ALIAS_EVENT:
                guard let name = string(event.data.alias.anchor), let node = anchors[name] else {
                    throw .syntax(context: nil, problem: "found undefined alias", line: mark.line)
                }
                finished(node)
            case YAML_SEQUENCE_START_EVENT:
                let data = event.data.sequence_start
                stack.append(.sequence(items: [], tag: data.implicit != 0 ? "" : string(data.tag) ?? "", mark: mark,
                                       anchor: string(data.anchor)))
            case YAML_MAPPING_START_EVENT:
                let data = event.data.mapping_start
                stack.append(.mapping(pairs: [], pendingKey: nil, tag: data.implicit != 0 ? "" : string(data.tag) ?? "",
                                      mark: mark, anchor: string(data.anchor)))
            case YAML_SEQUENCE_END_EVENT:
                guard case .sequence(let items, let tag, let start, let anchor)? = stack.popLast() else { break }
                let node = YAMLNode.sequence(items, tag: tag, mark: start)
                register(anchor, node)
                finished(node)
            case YAML_MAPPING_END_EVENT:
                guard case .mapping(let pairs, _, let tag, let start, let anchor)? = stack.popLast() else { break }
                let duplicates = duplicatedKeys(pairs.map(\.key))
                if !duplicates.isEmpty { throw .duplicateKeys(duplicates) }
                let node = YAMLNode.mapping(pairs, tag: tag, mark: start)
                register(anchor, node)
                finished(node)
            default:
                break  // libyaml guarantees the nesting; nothing else occurs inside a document
            }
        } while root == nil

        yaml_event_delete(&event)
        try next()  // DOCUMENT-END
        yaml_event_delete(&event)
        try next()
        if event.type != YAML_STREAM_END_EVENT {
            throw .syntax(context: "expected a single document in the stream", problem: "but found another document",
                          line: YAMLMark(event.start_mark).line)
        }
        return root
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    // MARK: Duplicate keys

    /// Each key that occurs more than once, once, in first-occurrence order.
    /// Two keys are the same when they are equal nodes: scalars with the same
    /// text and the same resolved type (`1` and `"1"` differ, `a` and `"a"`
    /// do not), collections item by item.
    static func duplicatedKeys(_ keys: [YAMLNode]) -> [String] {
        var reported: [YAMLNode] = []
        var out: [String] = []
        for (i, key) in keys.enumerated() where !reported.contains(where: { same($0, key) }) {
            if keys[(i + 1)...].contains(where: { same($0, key) }) {
                reported.append(key)
                out.append(key.scalar?.string ?? "<uncovertable>")
            }
        }
        return out
    }

    static func same(_ a: YAMLNode, _ b: YAMLNode) -> Bool {
        switch (a, b) {
        case (.scalar(let x), .scalar(let y)):
            return x.string == y.string && resolvedTag(x) == resolvedTag(y)
        case (.sequence(let x, let xt, _), .sequence(let y, let yt, _)):
            return x.count == y.count && collectionTag(xt, "seq") == collectionTag(yt, "seq")
                && zip(x, y).allSatisfy { same($0, $1) }
        case (.mapping(let x, let xt, _), .mapping(let y, let yt, _)):
            return x.count == y.count && collectionTag(xt, "map") == collectionTag(yt, "map")
                && zip(x, y).allSatisfy { same($0.key, $1.key) && same($0.value, $1.value) }
        default:
            return false
        }
    }

    private static func collectionTag(_ tag: String, _ kind: String) -> String {
        tag.isEmpty || tag == "!" ? "tag:yaml.org,2002:\(kind)" : tag
    }

    /// The YAML 1.1 type of a scalar: its explicit tag, or for a plain scalar
    /// the first of bool, int, float, merge, null, timestamp, value whose
    /// pattern matches the whole text, else str.
    static func resolvedTag(_ s: YAMLScalar) -> String {
        if s.tag == "!" { return tagStr }
        if !s.tag.isEmpty { return s.tag }
        let text = s.string
        let kind: String
        if text.wholeMatch(of: #/yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF/#) != nil {
            kind = "bool"
        } else if text.wholeMatch(
            of: #/[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+/#)
            != nil
        {
            kind = "int"
        } else if text.wholeMatch(
            of: #/[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)/#)
            != nil
        {
            kind = "float"
        } else if text == "<<" {
            kind = "merge"
        } else if text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL" {
            kind = "null"
        } else if text.wholeMatch(
            of: #/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?/#)
            != nil
        {
            kind = "timestamp"
        } else if text == "=" {
            kind = "value"
        } else {
            kind = "str"
        }
        return "tag:yaml.org,2002:\(kind)"
    }

    // MARK: Errors

    private static func parserError(_ parser: yaml_parser_t, text: String) -> YAMLError {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        switch parser.error {
        case YAML_SCANNER_ERROR, YAML_PARSER_ERROR, YAML_COMPOSER_ERROR:
            return .syntax(context: parser.context.map { String(cString: $0) }, problem: problem,
                           line: parser.problem_mark.line + 1)
        case YAML_READER_ERROR:
            return .other(readerMessage(problem, offset: parser.problem_offset, value: parser.problem_value, text: text))
        default:
            return .other("Memory error")
        }
    }

    /// `line:column: error: reader: problem:` then the line and a caret under
    /// the offending character: the form this reader has always printed for
    /// a character YAML does not allow (a control character, say).
    private static func readerMessage(_ problem: String, offset: Int, value: Int32, text: String) -> String {
        let utf8 = text.utf8
        guard let byteIndex = utf8.index(utf8.startIndex, offsetBy: offset, limitedBy: utf8.endIndex),
            let index = byteIndex.samePosition(in: text), index < text.endIndex
        else {
            return "\(problem) at offset: nil, value: \(value)"
        }
        var lineNumber = 0
        var lineStart = text.startIndex
        var i = text.startIndex
        while i < index {
            if text[i] == "\n" || text[i] == "\r\n" || text[i] == "\r" {
                lineNumber += 1
                lineStart = text.index(after: i)
            }
            i = text.index(after: i)
        }
        // The line with its terminator; a newline is added when it has none (the last line).
        var lineEnd = index
        while lineEnd < text.endIndex {
            let c = text[lineEnd]
            lineEnd = text.index(after: lineEnd)
            if c == "\n" || c == "\r\n" || c == "\r" { break }
        }
        var contents = String(text[lineStart..<lineEnd])
        if !(contents.hasSuffix("\n") || contents.hasSuffix("\r\n") || contents.hasSuffix("\r")) { contents += "\n" }
        let column = text.utf16.distance(from: lineStart, to: index)
        return "\(lineNumber + 1):\(column + 1): error: reader: \(problem):\n" + contents
            + String(repeating: " ", count: column) + "^"
    }
}
