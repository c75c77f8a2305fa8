import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing
import TracegateCore

@testable import TracegateReceivers

@Suite struct BearerAuthTests {
    // ------------------------------------------------------------ comparison

    @Test func constantTimeEqualsComparesWholeStrings() {
        let eq = BearerAuth.constantTimeEquals
        #expect(eq(Array("token".utf8), Array("token".utf8)))
        #expect(!eq(Array("token".utf8), Array("tokem".utf8)))
        #expect(!eq(Array("token".utf8), Array("token2".utf8)), "a longer string is not equal")
        #expect(!eq(Array("token".utf8), Array("toke".utf8)), "a prefix is not equal")
        #expect(!eq(Array("token".utf8), []))
        #expect(!eq([0], []), "padding with zeros does not make lengths equal")
        #expect(eq([], []))
    }

    @Test func authorizesOnlyBearerHeadersWithAKnownToken() {
        let auth = BearerAuth(tokens: ["alpha", "beta-2"])
        #expect(auth.authorizes(header: "Bearer alpha"))
        #expect(auth.authorizes(header: "Bearer beta-2"))
        #expect(auth.authorizes(header: "bearer alpha"), "the scheme is case-insensitive")
        #expect(auth.authorizes(header: "BEARER  alpha "), "extra spaces around the token")
        #expect(!auth.authorizes(header: nil))
        #expect(!auth.authorizes(header: ""))
        #expect(!auth.authorizes(header: "Bearer"))
        #expect(!auth.authorizes(header: "Bearer "))
        #expect(!auth.authorizes(header: "Bearer ALPHA"), "tokens are case-sensitive")
        #expect(!auth.authorizes(header: "Bearer alph"))
        #expect(!auth.authorizes(header: "Bearer alphaa"))
        #expect(!auth.authorizes(header: "Basic alpha"))
        #expect(!auth.authorizes(header: "Beareralpha"))
        #expect(!auth.authorizes(header: "alpha"))
    }

    @Test func descriptionNeverShowsTokens() {
        let auth = BearerAuth(tokens: ["super-secret"])
        #expect(!"\(auth)".contains("super-secret"))
        #expect(!String(reflecting: auth).contains("super-secret"))
        var config = OTLPHTTPConfig()
        config.auth = auth
        var dumped = ""
        dump(config, to: &dumped)
        #expect(!dumped.contains("super-secret"))
        #expect(!"\(config)".contains("super-secret"))
    }

    // ------------------------------------------------------------ token files

    @Test func tokenFileSkipsCommentsAndBlankLinesAndTrims() {
        let parsed = BearerAuth.parseTokenFile("# header\n\n  one  \r\ntwo\n   # indented comment\n\tthree\n")
        #expect(parsed.map(\.token) == ["one", "two", "three"])
        #expect(parsed.map(\.line) == [3, 4, 6])
        #expect(BearerAuth.parseTokenFile("").isEmpty)
        #expect(BearerAuth.parseTokenFile("# only\n\n").isEmpty)
    }

    // ------------------------------------------------------------ config

    func read(_ yaml: String, env: [String: String] = [:]) -> (OTLPReceiverConfig?, [String]) {
        let diagnostics = ConfigDiagnostics(file: "t.yaml", environment: env)
        var config: OTLPReceiverConfig?
        if let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics) { config = OTLPReceiverConfig.read(root) }
        return (config, diagnostics.problems.map(\.description))
    }

    func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func authAppliesToBothProtocols() throws {
        let file = try temporaryFile("# ops\nfrom-file\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (config, problems) = read(
            """
            auth:
              bearer_tokens: ["${env:TOKEN_A}", literal-token]
              bearer_tokens_file: \(file)
            protocols:
              http:
              grpc:
            """, env: ["TOKEN_A": "from-env"])
        #expect(problems == [])
        let expected = BearerAuth(tokens: ["from-env", "literal-token", "from-file"])
        #expect(config?.http?.auth == expected)
        #expect(config?.grpc?.auth == expected)
    }

    @Test func noAuthByDefault() {
        let (config, problems) = read("protocols:\n  http:\n  grpc:\n")
        #expect(problems == [])
        #expect(config?.http?.auth == nil)
        #expect(config?.grpc?.auth == nil)
    }

    @Test func reportsAuthProblemsWithFileLineAndPath() throws {
        let empty = try temporaryFile("# nothing\n\n")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(read("auth:\n  bearer_tokens: []\nprotocols:\n  http:\n").1
            == ["t.yaml:2: auth.bearer_tokens: must list at least one token"])
        #expect(read("auth:\n  bearer_tokens:\n    - ok\n    - \"${env:UNSET}\"\nprotocols:\n  http:\n").1
            == ["t.yaml:4: auth.bearer_tokens[1]: token is empty (is its environment variable set?)"])
        #expect(read("auth:\n  bearer_tokens: [\"a b\"]\nprotocols:\n  http:\n").1
            == ["t.yaml:2: auth.bearer_tokens[0]: token must not contain whitespace"])
        #expect(read("auth:\n  bearer_tokens_file: /nonexistent/tokens\nprotocols:\n  http:\n").1
            == ["t.yaml:2: auth.bearer_tokens_file: cannot read /nonexistent/tokens"])
        #expect(read("auth:\n  bearer_tokens_file: \(empty)\nprotocols:\n  http:\n").1
            == ["t.yaml:2: auth.bearer_tokens_file: \(empty) holds no tokens"])
        #expect(read("auth:\nprotocols:\n  http:\n").1 == ["t.yaml:1: auth: set bearer_tokens or bearer_tokens_file"])
        #expect(read("auth:\n  bearer_tokens: [a]\n  tokens: [b]\nprotocols:\n  http:\n").1
            == ["t.yaml:3: auth.tokens: unknown key"])
    }

    @Test func problemsNeverShowTokens() {
        let (_, problems) = read("auth:\n  bearer_tokens: [\"secret with space\"]\nprotocols:\n  http:\n")
        #expect(problems.count == 1)
        #expect(!problems[0].contains("secret"))
    }

    @Test func readsHTTPLimits() {
        let (config, problems) = read("protocols:\n  http:\n    read_timeout: 1500ms\n    max_connections: 2\n")
        #expect(problems == [])
        #expect(config?.http?.readTimeout == .milliseconds(1500))
        #expect(config?.http?.maxConnections == 2)
        let (defaults, _) = read("protocols:\n  http:\n")
        #expect(defaults?.http?.readTimeout == .seconds(30))
        #expect(defaults?.http?.maxConnections == 0)
        #expect(read("protocols:\n  http:\n    read_timeout: 0s\n").1
            == ["t.yaml:3: protocols.http.read_timeout: must be greater than zero"])
        #expect(read("protocols:\n  http:\n    max_connections: -1\n").1
            == ["t.yaml:3: protocols.http.max_connections: must be between 0 and 1000000, got -1"])
    }

    @Test func connectionCounterEnforcesItsLimit() {
        let counter = ConnectionCounter(limit: 2)
        #expect(counter.tryAcquire())
        #expect(counter.tryAcquire())
        #expect(!counter.tryAcquire())
        counter.release()
        #expect(counter.tryAcquire())
        let unlimited = ConnectionCounter(limit: 0)
        for _ in 0..<100 { #expect(unlimited.tryAcquire()) }
    }

    // ------------------------------------------------------------ gRPC

    func grpcCall(authorization: String?) throws -> HPACKHeaders? {
        let channel = EmbeddedChannel(
            handler: OTLPGRPCStreamHandler(
                maxMessageSize: 1 << 20,
                ingress: OTLPGRPCHandlerTests.ingress(room: 10, collector: OTLPGRPCHandlerTests.Collector()),
                logger: Logger(label: "test"), auth: BearerAuth(tokens: ["grpc-token"])))
        var head: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": OTLPGRPCStreamHandler.exportPath,
            "content-type": "application/grpc", "te": "trailers",
        ]
        if let authorization { head.add(name: "authorization", value: authorization) }
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: head, endStream: true)))
        var first: HPACKHeaders?
        while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
            if first == nil, case .headers(let h) = frame { first = h.headers }
        }
        _ = try channel.finish()
        return first
    }

    @Test func grpcCallsWithoutTheTokenAreUnauthenticated() throws {
        for authorization in [nil, "Bearer nope", "grpc-token"] {
            let answer = try #require(try grpcCall(authorization: authorization))
            #expect(answer.first(name: ":status") == "200")
            #expect(answer.first(name: "grpc-status") == "16", "\(authorization ?? "none")")
        }
        let answer = try #require(try grpcCall(authorization: "Bearer grpc-token"))
        // Past authentication: this call without a message fails later, not with UNAUTHENTICATED.
        #expect(answer.first(name: "grpc-status") != "16")
    }
}
