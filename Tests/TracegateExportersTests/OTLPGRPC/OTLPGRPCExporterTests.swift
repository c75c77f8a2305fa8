import Testing
import TracegateCore
import TracegateOTLP
@testable import TracegateExporters

@Suite struct OTLPGRPCExporterConfigTests {
    private func read(_ yaml: String, env: [String: String] = [:]) -> (OTLPGRPCExporterConfig, [String]) {
        let diagnostics = ConfigDiagnostics(file: "c.yaml", environment: env)
        let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics)!
        let config = OTLPGRPCExporterConfig.read(root)
        return (config, diagnostics.problems.map(\.description))
    }

    @Test func defaultsAreTheCollectorsWithTLSForAPlainHostPort() {
        let (c, problems) = read("endpoint: gw:4317\nheaders: { Authorization: \"Bearer ${env:TOKEN}\" }", env: ["TOKEN": "s3cret"])
        #expect(problems.isEmpty, "\(problems)")
        #expect(c.host == "gw" && c.port == 4317 && c.authority == "gw:4317")
        // The collector's default: a host:port without tls.insecure is TLS.
        #expect(c.useTLS && c.scheme == "https")
        #expect(c.gzip && c.timeout == .seconds(5))
        #expect(c.keepalive == GRPCKeepalive() && c.keepalive.time == .seconds(30) && !c.keepalive.permitWithoutStream)
        #expect(c.retry == RetryPolicy() && c.sendingQueue.numConsumers == 4 && !c.sendingQueue.persistent)
        // HTTP/2 header names are lowercase.
        #expect(c.headers == ["authorization": "Bearer s3cret"])
    }

    @Test func theSchemeOrTLSInsecureDecideTLS() {
        #expect(read("endpoint: http://gw:4317").0.useTLS == false)
        #expect(read("endpoint: https://gw:4317/").0.useTLS == true)
        #expect(read("endpoint: gw:4317\ntls: { insecure: true }").0.useTLS == false)
        let v6 = read("endpoint: \"[::1]:4317\"\ntls: { insecure: true }").0
        #expect(v6.host == "::1" && v6.port == 4317 && v6.authority == "[::1]:4317")
    }

    @Test func reportsEveryProblemWithItsLine() {
        let (_, problems) = read("""
            endpoint: https://gw:4317
            tls:
              insecure: true
              cert_file: /c.pem
            compression: zstd
            headers: { te: x, ":path": /y, ok: "a\\nb" }
            timeout: 0s
            keepalive: { time: 1s, timeout: 0s, every: 1s }
            sending_queue: { persistent: true }
            retry_on_failure: { multiplier: 0.5 }
            extra: 1
            """)
        #expect(problems == [
            "c.yaml:2: tls: cert_file and key_file go together",
            "c.yaml:3: tls.insecure: insecure: true turns TLS off; the other tls keys would be ignored",
            "c.yaml:3: tls.insecure: contradicts the https:// endpoint",
            "c.yaml:5: compression: expected gzip or none, got 'zstd'",
            "c.yaml:6: headers.te: is set by the exporter itself",
            "c.yaml:6: headers.:path: is set by the exporter itself",
            "c.yaml:6: headers.ok: the value must not contain CR, LF or NUL",
            "c.yaml:7: timeout: must be greater than zero",
            "c.yaml:8: keepalive.time: must be at least 10s",
            "c.yaml:8: keepalive.timeout: must be greater than zero",
            "c.yaml:8: keepalive.every: unknown key",
            "c.yaml:9: sending_queue.directory: is required with persistent: true",
            "c.yaml:10: retry_on_failure.multiplier: must be at least 1",
            "c.yaml:11: extra: unknown key",
        ])
    }

    @Test func endpointsMustBeHostAndPort() {
        #expect(read("timeout: 1s").1 == ["c.yaml:1: endpoint is required (host:port)"])
        #expect(read("endpoint: gw").1 == ["c.yaml:1: endpoint: expected host:port (the port is required), got 'gw'"])
        #expect(read("endpoint: http://gw:4317/v1/traces").1 == ["c.yaml:1: endpoint: expected host:port without a path, got 'http://gw:4317/v1/traces'"])
        #expect(read("endpoint: \"::1:4317\"").1 == ["c.yaml:1: endpoint: an IPv6 address goes in brackets, e.g. [::1]:4317, got '::1:4317'"])
        #expect(read("endpoint: gw:70000").1 == ["c.yaml:1: endpoint: expected a port 1-65535 in 'gw:70000'"])
        #expect(read("endpoint: \":4317\"").1 == ["c.yaml:1: endpoint: the host is missing in ':4317'"])
    }

    @Test func aMissingCAFileIsReportedAtItsKey() {
        let (_, problems) = read("endpoint: gw:4317\ntls:\n  ca_file: /no/such/ca.pem\n")
        #expect(problems == ["c.yaml:3: tls.ca_file: /no/such/ca.pem: no such file or not readable"])
    }
}

@Suite struct GRPCStatusWireTests {
    /// A protobuf key byte: field number and wire type.
    private func key(_ field: UInt8, _ wireType: UInt8) -> UInt8 { field << 3 | wireType }

    /// Length-delimited field with a one-byte length.
    private func message(_ field: UInt8, _ body: [UInt8]) -> [UInt8] { [key(field, 2), UInt8(body.count)] + body }

    @Test func readsTheRetryDelayFromAStatusBuiltByHand() {
        // Duration { seconds: 1, nanos: 300_000_000 }: 300_000_000 = 0x11E1A300 as a varint.
        let duration: [UInt8] = [key(1, 0), 0x01, key(2, 0), 0x80, 0xC6, 0x86, 0x8F, 0x01]
        let retryInfo = message(1, duration)
        let any = message(1, Array("type.googleapis.com/google.rpc.RetryInfo".utf8)) + message(2, retryInfo)
        // A first detail of another type must be skipped.
        let other = message(1, Array("type.googleapis.com/google.rpc.DebugInfo".utf8)) + message(2, [key(2, 2), 0x01, 0x41])
        let status: [UInt8] = [key(1, 0), 14] + message(2, Array("busy".utf8)) + message(3, other) + message(3, any)
        #expect(GRPCStatusDetails.retryDelay(inStatus: status) == .milliseconds(1300))
        // As it travels in the trailer: base64, with or without padding.
        let header = GRPCHeaderEncoding.base64(status)
        let status2 = GRPCCallStatus.read(httpStatus: 200, fields: [("grpc-status", "14"), ("grpc-status-details-bin", header)])
        #expect(status2.retryDelay == .milliseconds(1300) && status2.isRetryable)
        let padded = header + String(repeating: "=", count: (4 - header.count % 4) % 4)
        #expect(GRPCHeaderEncoding.base64Decoded(padded) == status)
    }

    @Test func negativeTruncatedAndHugeDelays() {
        // seconds: -5 is ten bytes of varint (two's complement).
        let negative: [UInt8] = [key(1, 0), 0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(GRPCStatusDetails.retryDelay(inRetryInfo: message(1, negative)) == .zero)
        // A length running past the end is not a message.
        #expect(GRPCStatusDetails.retryDelay(inRetryInfo: [key(1, 2), 0x09, key(1, 0), 0x01]) == nil)
        #expect(GRPCStatusDetails.retryDelay(inStatus: [0xFF]) == nil)
        #expect(GRPCHeaderEncoding.base64Decoded("not base64!") == nil)
        #expect(GRPCHeaderEncoding.base64Decoded("QQ=A") == nil)
        // A day is cut to the cap.
        let day = GRPCHeaderEncoding.base64(GRPCStatusDetails.retryInfo(delay: .seconds(86_400)))
        let status = GRPCCallStatus.read(httpStatus: 200, fields: [("grpc-status", "8"), ("google.rpc.retryinfo-bin", day)])
        #expect(status.retryDelay == GRPCCallStatus.maxRetryDelay)
    }

    @Test func writerAndReaderAgree() {
        for delay: Duration in [.milliseconds(300), .seconds(2), .milliseconds(1500)] {
            let any = GRPCStatusDetails.retryInfoAny(delay: delay)
            let status = GRPCStatusDetails.status(code: .unavailable, message: "x", details: [any])
            #expect(GRPCStatusDetails.retryDelay(inStatus: status) == delay)
        }
        // A zero delay is a present but empty Duration (the writer leaves it
        // out, as it never sends one); a RetryInfo without it has no delay.
        #expect(GRPCStatusDetails.retryDelay(inRetryInfo: [0x0A, 0x00]) == .zero)
        #expect(GRPCStatusDetails.retryDelay(inRetryInfo: []) == nil)
    }

    @Test func percentDecodesGRPCMessage() {
        #expect(GRPCHeaderEncoding.percentDecoded("50%25 %E2%9C%93%0A") == "50% ✓\n")
        #expect(GRPCHeaderEncoding.percentDecoded("plain") == "plain")
        // Malformed escapes are kept as they are, as the spec asks.
        #expect(GRPCHeaderEncoding.percentDecoded("100% sure %zz %4") == "100% sure %zz %4")
        // Bytes that are not UTF-8 become U+FFFD.
        #expect(GRPCHeaderEncoding.percentDecoded("%FF!") == "\u{FFFD}!")
        #expect(GRPCHeaderEncoding.percentDecoded(String(repeating: "a", count: 5000)).utf8.count == 1024)
        for text in ["ümlaut 100%", "tab\there", "%%"] {
            #expect(GRPCHeaderEncoding.percentDecoded(GRPCHeaderEncoding.percentEncoded(text)) == text)
        }
    }

    @Test func classifiesStatusCodes() {
        func status(_ fields: [(String, String)], http: Int? = 200) -> GRPCCallStatus {
            GRPCCallStatus.read(httpStatus: http, fields: fields.map { (name: $0.0, value: $0.1) })
        }
        for code in [4, 8, 10, 14] { #expect(status([("grpc-status", "\(code)")]).isRetryable, "\(code)") }
        for code in [0, 1, 2, 3, 5, 6, 7, 9, 11, 12, 13, 15, 16] { #expect(!status([("grpc-status", "\(code)")]).isRetryable, "\(code)") }
        let invalid = status([("content-type", "application/grpc"), ("grpc-status", "3"), ("grpc-message", "bad%20span%3A%20no%20trace%20id")])
        #expect(invalid == GRPCCallStatus(code: 3, message: "bad span: no trace id"))
        // Not gRPC at all: the HTTP status decides.
        #expect(status([], http: 503).code == 14)
        #expect(status([], http: 404).code == 12)
        #expect(status([], http: 200).code == 2)
        // A code outside 0–16 is UNKNOWN.
        #expect(status([("grpc-status", "99")]).code == 2)
        // Trailers come after headers and win.
        #expect(status([("grpc-status", "14"), ("grpc-status", "0")]).code == 0)
    }

    @Test func timeoutHeaderFitsEightDigits() {
        #expect(GRPCCallStatus.timeoutHeader(.seconds(5)) == "5000m")
        #expect(GRPCCallStatus.timeoutHeader(.microseconds(1)) == "1m")
        #expect(GRPCCallStatus.timeoutHeader(.seconds(200_000)) == "200000S")
    }
}
