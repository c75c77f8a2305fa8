import Testing
@testable import TracegateCore

/// The YAML layer under the configuration reader (libyaml events composed in
/// YAMLDocument.swift). The expected messages are what the reader printed
/// when it was built on Yams, so a configuration error reads the same.
@Suite struct YAMLReaderTests {
    func problems(_ yaml: String, _ body: (ConfigMap) -> Void = { _ in }) -> [String] {
        let diagnostics = ConfigDiagnostics(file: "t.yaml", environment: [:])
        if let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics) { body(root) }
        return diagnostics.problems.map(\.description)
    }

    func compose(_ yaml: String) throws -> YAMLNode? { try YAMLComposer.compose(yaml) }

    @Test func keepsKeysInFileOrderWithTheirLinesAndColumns() throws {
        let root = try #require(try compose("a: 1\nb:\n  c: [x, y]\n  d: {e: f}\n"))
        guard case .mapping(let pairs, _, let mark) = root else { Issue.record("not a mapping"); return }
        #expect(pairs.map { $0.key.scalar?.string } == ["a", "b"])
        #expect(mark == YAMLMark(line: 1, column: 1))
        guard case .mapping(let inner, _, _) = pairs[1].value else { Issue.record("b is not a mapping"); return }
        #expect(inner[0].key.mark == YAMLMark(line: 3, column: 3))
        guard case .sequence(let items, _, let seqMark) = inner[0].value else { Issue.record("c is not a list"); return }
        #expect(seqMark == YAMLMark(line: 3, column: 6))
        #expect(items.map { $0.scalar?.string } == ["x", "y"])
        #expect(items[1].mark == YAMLMark(line: 3, column: 10))
    }

    @Test func readsEveryScalarStyle() throws {
        let root = try #require(try compose("""
            plain: text here
            single: 'it''s'
            double: "tab\\tand \\u00e9"
            literal: |
              one
              two
            folded: >-
              one
              two
            """))
        guard case .mapping(let pairs, _, _) = root else { Issue.record("not a mapping"); return }
        let scalars = pairs.compactMap { $0.value.scalar }
        #expect(scalars.map(\.string) == ["text here", "it's", "tab\tand é", "one\ntwo\n", "one two"])
        #expect(scalars.map(\.style) == [.plain, .singleQuoted, .doubleQuoted, .literal, .folded])
        // Every non-plain scalar (quoted or block) carries the str tag, a plain one none.
        #expect(scalars.map(\.tag) == ["", "tag:yaml.org,2002:str", "tag:yaml.org,2002:str", "tag:yaml.org,2002:str", "tag:yaml.org,2002:str"])
    }

    @Test func anAliasIsTheNodeItsAnchorNames() throws {
        var seen: [String?] = []
        let found = problems("""
            base: &b
              size: 10
            copy: *b
            name: &n hello
            again: *n
            """) { root in
            seen = [root.map("copy").string("size"), root.string("again"), root.string("name")]
            _ = root.map("base").string("size")
            root.finish()
        }
        #expect(found.isEmpty)
        #expect(seen == ["10", "hello", "hello"])
    }

    @Test func mergeKeysAreOrdinaryKeys() {
        // Yams did not apply `<<` when composing either: it is reported as unknown.
        let found = problems("base: &b {size: 1}\nother:\n  <<: *b\n") { root in
            _ = root.map("base").string("size")
            root.map("other").finish()
            root.finish()
        }
        #expect(found == ["t.yaml:3: other.<<: unknown key"])
    }

    @Test func reportsAnUndefinedAliasAtItsLine() {
        #expect(problems("a: 1\nb: *nope\n") == ["t.yaml:2: invalid YAML: found undefined alias"])
        // An anchor is defined once its node is complete, so a node cannot contain itself.
        #expect(problems("r: &a\n  x: *a\n") == ["t.yaml:2: invalid YAML: found undefined alias"])
    }

    @Test func reportsSyntaxErrorsWithLibyamlsWordingAndLine() {
        #expect(problems("a: b: c\n") == ["t.yaml:1: invalid YAML: mapping values are not allowed in this context"])
        #expect(problems("r: [a, b\n") == ["t.yaml:2: invalid YAML: while parsing a flow sequence did not find expected ',' or ']'"])
        #expect(problems("x: \"open\n") == ["t.yaml:2: invalid YAML: while scanning a quoted scalar found unexpected end of stream"])
        #expect(problems("r:\n\tx: 1\n")
            == ["t.yaml:2: invalid YAML: while scanning for the next token found character that cannot start any token"])
    }

    @Test func refusesASecondDocument() {
        #expect(problems("a: 1\n---\nb: 2\n")
            == ["t.yaml:2: invalid YAML: expected a single document in the stream but found another document"])
    }

    @Test func reportsAControlCharacterWithTheLineAndACaret() {
        #expect(problems("a: 1\nb: \"x\u{1}\"\n")
            == ["t.yaml: invalid YAML: 2:6: error: reader: control characters are not allowed:\nb: \"x\u{1}\"\n     ^"])
    }

    @Test func reportsADuplicateKeyAtItsSecondOccurrence() {
        #expect(problems("a: 1\nb: 2\na: 3\n") == ["t.yaml:3: a: duplicate key"])
        // Nested, in flow style, and quoted versus plain: the same key.
        #expect(problems("x:\n  y: 1\n  \"y\": 2\n") == ["t.yaml:3: y: duplicate key"])
        #expect(problems("x: {p: 1, q: 2, p: 3}\n") == ["t.yaml: p: duplicate key"])
    }

    @Test func keysOfDifferentTypesAreDifferentKeys() throws {
        // `1` is an int and `"1"` a string; `yes` a bool and `"yes"` a string.
        #expect(problems("1: a\n\"1\": b\n").isEmpty)
        #expect(problems("yes: a\n'yes': b\n").isEmpty)
        // An explicit str tag is the type a plain `a` resolves to. (The line is
        // looked up by text, `a:` at the start of a line, so a tagged key has none.)
        #expect(problems("a: 1\n!!str a: 2\n") == ["t.yaml: a: duplicate key"])
        #expect(YAMLComposer.resolvedTag(YAMLScalar(string: "0x1F", tag: "", style: .plain, mark: YAMLMark(line: 1, column: 1)))
            == "tag:yaml.org,2002:int")
        #expect(YAMLComposer.resolvedTag(YAMLScalar(string: "1.5e3", tag: "", style: .plain, mark: YAMLMark(line: 1, column: 1)))
            == "tag:yaml.org,2002:float")
        #expect(YAMLComposer.resolvedTag(YAMLScalar(string: "2026-12-06", tag: "", style: .plain, mark: YAMLMark(line: 1, column: 1)))
            == "tag:yaml.org,2002:timestamp")
        #expect(YAMLComposer.resolvedTag(YAMLScalar(string: "~", tag: "", style: .plain, mark: YAMLMark(line: 1, column: 1)))
            == "tag:yaml.org,2002:null")
    }

    @Test func nullSectionsAreEmptyOnlyWhenWrittenAsYamsAccepted() {
        let found = problems("a:\nb: ~\nc: null\nd: !!null x\ne: NULL\nf: ''\n") { root in
            for key in ["a", "b", "c", "d", "e", "f"] { root.map(key).finish() }
            root.finish()
        }
        // Only an explicit `!!null` tag counts as null beyond '', ~ and null.
        #expect(found == ["t.yaml:5: e: expected a mapping"])
    }

    @Test func anEmptyOrCommentOnlyTextIsAnEmptyMapping() {
        for text in ["", "# nothing\n", "---\n"] {
            let diagnostics = ConfigDiagnostics(file: "t.yaml", environment: [:])
            let root = ConfigMap.parse(yaml: text, diagnostics: diagnostics)
            #expect(root?.isEmpty == true)
            #expect(diagnostics.problems.isEmpty)
        }
    }

    @Test func aNonScalarKeyIsReported() {
        #expect(problems("? [a]\n: 1\n") { $0.finish() } == ["t.yaml:1: keys must be plain strings"])
        #expect(problems("? {a: 1}\n: x\n? {a: 1}\n: y\n") == ["t.yaml: <uncovertable>: duplicate key"])
    }

    @Test func readsCRLFAndAByteOrderMark() {
        var value: String?
        let found = problems("\u{FEFF}a:\r\n  b: c\r\n") { root in
            value = root.map("a").string("b")
            root.finish()
        }
        #expect(found.isEmpty)
        #expect(value == "c")
    }
}
