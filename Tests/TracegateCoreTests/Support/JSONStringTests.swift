import Testing
import TracegateCore

@Suite struct JSONStringTests {
    @Test func escapesQuotesBackslashesAndControlCharacters() {
        #expect(JSONString.quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONString.quoted("line\nnext\r\ttab") == #""line\nnext\r\ttab""#)
        #expect(JSONString.quoted("\u{1}\u{1f}") == #""\u0001\u001f""#)
        #expect(JSONString.quoted("\u{2028}") == #""\u2028""#)
    }

    @Test func leavesOtherUnicodeAsIs() {
        #expect(JSONString.quoted("héllo ✓ 🚀") == "\"héllo ✓ 🚀\"")
    }
}
