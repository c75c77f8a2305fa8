import Testing
import TracegateCore
@testable import TracegateExporters

@Suite struct OTLPHTTPExporterTests {
    private func read(_ yaml: String, env: [String: String] = [:]) -> (OTLPHTTPExporterConfig, [String]) {
        let diagnostics = ConfigDiagnostics(file: "c.yaml", environment: env)
        let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics)!
        let config = OTLPHTTPExporterConfig.read(root)
        return (config, diagnostics.problems.map(\.description))
    }

    @Test func endpointGetsTheTracesPathAndTracesEndpointIsUsedAsIs() {
        #expect(read("endpoint: http://gw:4318").0.url == "http://gw:4318/v1/traces")
        #expect(read("endpoint: http://gw:4318/").0.url == "http://gw:4318/v1/traces")
        #expect(read("endpoint: http://gw:4318\ntraces_endpoint: https://v.example/otlp/traces").0.url == "https://v.example/otlp/traces")
    }

    @Test func defaultsAreTheCollectorsAndHeadersTakeEnvironmentValues() {
        let (c, problems) = read("endpoint: http://gw:4318\nheaders: { authorization: \"Bearer ${env:TOKEN}\" }", env: ["TOKEN": "s3cret"])
        #expect(problems.isEmpty)
        #expect(c.gzip && c.encoding == .proto && c.timeout == .seconds(30))
        #expect(c.retry.initialInterval == .seconds(5) && c.retry.maxInterval == .seconds(30) && c.retry.maxElapsedTime == .seconds(300))
        #expect(c.headers == ["authorization": "Bearer s3cret"])
        #expect(!c.sendingQueue.persistent)
    }

    @Test func headersThatWouldBreakTheRequestAreRefused() {
        let (c, problems) = read("""
            endpoint: http://gw:4318
            headers:
              X-Team: "a"
              Content-Type: text/plain
              "bad name": "x"
              x-split: "a\\r\\nx-injected: 1"
            """)
        #expect(c.headers == ["x-team": "a"])
        #expect(problems == [
            "c.yaml:4: headers.Content-Type: is set by the exporter itself",
            "c.yaml:5: headers.bad name: is not a valid header name",
            "c.yaml:6: headers.x-split: the value must not contain CR, LF or NUL",
        ])
    }

    @Test func reportsEveryProblemWithItsLine() {
        let (_, problems) = read("""
            endpoint: gw:4318
            encoding: xml
            compression: zstd
            tls: { cert_file: /c.pem }
            sending_queue: { persistent: true, max_size: 10KiB }
            """)
        #expect(problems == [
            "c.yaml:1: endpoint: expected an http:// or https:// URL, got 'gw:4318'",
            "c.yaml:2: encoding: expected proto or json, got 'xml'",
            "c.yaml:3: compression: expected gzip or none, got 'zstd'",
            "c.yaml:4: tls: cert_file and key_file go together",
            "c.yaml:5: sending_queue.directory: is required with persistent: true",
            "c.yaml:5: sending_queue.max_size: must be at least 1MiB",
        ])
    }

    @Test func readsPartialSuccessFromProtobufAndJSONAnswers() {
        // ExportTraceServiceResponse { partial_success { rejected_spans: 3, error_message: "old" } }
        let proto: [UInt8] = [0x0A, 0x07, 0x08, 0x03, 0x12, 0x03] + Array("old".utf8)
        #expect(OTLPResponseReader.partialSuccess(proto, json: false) == .init(rejectedSpans: 3, errorMessage: "old"))
        let json = Array(#"{"partialSuccess":{"rejectedSpans":"4","errorMessage":"too old"}}"#.utf8)
        #expect(OTLPResponseReader.partialSuccess(json, json: true) == .init(rejectedSpans: 4, errorMessage: "too old"))
        #expect(OTLPResponseReader.partialSuccess([], json: false) == nil)
    }

    @Test func readsTheReasonOfAnErrorAnswer() {
        // google.rpc.Status { code: 3, message: "bad span" }
        let status: [UInt8] = [0x08, 0x03, 0x12, 0x08] + Array("bad span".utf8)
        #expect(OTLPResponseReader.errorMessage(status, contentType: "application/x-protobuf") == "bad span")
        #expect(OTLPResponseReader.errorMessage(Array(#"{"code":3,"message":"bad"}"#.utf8), contentType: "application/json") == "bad")
        #expect(OTLPResponseReader.errorMessage(Array("plain text".utf8), contentType: "text/plain") == "plain text")
    }

    @Test func gzipOutputIsAGzipStream() {
        let input = [UInt8](repeating: 65, count: 10_000)
        let compressed = GzipDeflater.deflate(input)!
        #expect(compressed.starts(with: [0x1F, 0x8B]))
        #expect(compressed.count < 200)
    }
}
