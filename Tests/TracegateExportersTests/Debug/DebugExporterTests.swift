import Logging
import Synchronization
import Testing
import TracegateCore
@testable import TracegateExporters

/// Keeps what is logged, for the tests to read.
final class CapturedLog: Sendable {
    let lines = Mutex<[(message: String, metadata: Logger.Metadata)]>([])

    var logger: Logger {
        Logger(label: "test") { _ in CapturingHandler(log: self) }
    }

    struct CapturingHandler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            log.lines.withLock { $0.append(("\(event.message)", metadata.merging(event.metadata ?? [:]) { $1 })) }
        }
    }
}

@Suite struct DebugExporterTests {
    static func batch(name: String = "GET /cart", attributes: [Attribute] = [Attribute("http.status_code", .int(200))]) -> SpanBatch {
        let span = Span(
            traceID: TraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736), spanID: SpanID(0x00f0_67aa_0ba9_02b7),
            name: name, kind: .server, startTimeUnixNano: 1_000_000_000, endTimeUnixNano: 1_012_300_000, attributes: attributes,
            status: SpanStatus(code: .error, message: "boom"))
        return SpanBatch(resourceSpans: [
            ResourceSpans(
                resource: Resource(attributes: [Attribute("service.name", .string("checkout"))]),
                scopeSpans: [ScopeSpans(scope: InstrumentationScope(name: "io.test", version: "1.2"), spans: [span, span])])
        ])
    }

    static func exporter(_ verbosity: DebugExporterConfig.Verbosity, log: CapturedLog, initial: Int = 2, thereafter: Int = 1, clock: @escaping @Sendable () -> UInt64 = { 0 }) -> DebugExporter {
        var config = DebugExporterConfig()
        config.verbosity = verbosity
        config.samplingInitial = initial
        config.samplingThereafter = thereafter
        return DebugExporter(id: "debug", config: config, logger: log.logger, clock: clock)
    }

    @Test func basicLogsOneLineWithTheCounts() throws {
        let log = CapturedLog()
        try Self.exporter(.basic, log: log).export(Self.batch())
        let lines = log.lines.withLock { $0 }
        #expect(lines.count == 1)
        #expect(lines.first?.message == "Traces")
        #expect(lines.first?.metadata["spans"] == "2" && lines.first?.metadata["resource_spans"] == "1")
        #expect(lines.first?.metadata["exporter"] == "debug")
    }

    @Test func normalLogsALinePerSpan() throws {
        let log = CapturedLog()
        try Self.exporter(.normal, log: log).export(Self.batch())
        let message = try #require(log.lines.withLock { $0.first?.message })
        #expect(
            message == """
                Traces
                ResourceSpans #0 service.name=checkout
                ScopeSpans #0 io.test 1.2
                GET /cart 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 kind=Server status=Error duration=12.3ms http.status_code=200
                GET /cart 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 kind=Server status=Error duration=12.3ms http.status_code=200
                """)
    }

    @Test func detailedLogsEveryFieldWithItsType() throws {
        let log = CapturedLog()
        try Self.exporter(.detailed, log: log).export(Self.batch(attributes: [Attribute("tags", .array([.string("a"), .bool(true)]))]))
        let message = try #require(log.lines.withLock { $0.first?.message })
        #expect(message.contains("Resource attributes:\n     -> service.name: Str(checkout)\n"))
        #expect(message.contains("    Trace ID       : 4bf92f3577b34da6a3ce929d0e0e4736\n"))
        #expect(message.contains("    Parent ID      : \n"))
        #expect(message.contains("    Start time     : 1970-01-01 00:00:01.000000000 +0000 UTC\n    End time       : 1970-01-01 00:00:01.012300000 +0000 UTC\n"))
        #expect(message.contains("    Status code    : Error\n    Status message : boom\n"))
        #expect(message.contains("Attributes:\n     -> tags: Slice([a,true])\n"))
        #expect(message.components(separatedBy: "Span #").count == 3)
    }

    @Test func aSpanCannotForgeALogLine() throws {
        let log = CapturedLog()
        let forged = "ok\n2026-12-06T00:00:00Z critical tracegate: admin password reset\u{1b}[2J"
        try Self.exporter(.normal, log: log).export(Self.batch(name: forged, attributes: [Attribute("k\nv", .string(forged))]))
        let message = try #require(log.lines.withLock { $0.first?.message })
        // The batch's own lines only: header, resource, scope, two spans.
        #expect(message.split(separator: "\n").count == 5)
        #expect(message.contains("ok\\n2026-12-06T00:00:00Z critical tracegate: admin password reset\\u{1b}[2J"))
        #expect(!message.contains("\u{1b}"))
    }

    @Test func samplesPerSecondAfterTheInitialBatches() throws {
        let log = CapturedLog()
        let now = Mutex<UInt64>(5_000_000_000)
        let exporter = Self.exporter(.basic, log: log, initial: 2, thereafter: 3, clock: { now.withLock { $0 } })
        for _ in 0..<8 { try exporter.export(Self.batch()) }
        // Written: 1st, 2nd (initial), then every 3rd past them: 5th, 8th.
        #expect(log.lines.withLock { $0.count } == 4)
        #expect(log.lines.withLock { $0.map { $0.metadata["batches_not_shown"] } } == [nil, nil, "2", "2"])
        // A new second starts over.
        now.withLock { $0 += 1_000_000_000 }
        try exporter.export(Self.batch())
        #expect(log.lines.withLock { $0.count } == 5)
    }
}

@Suite struct LogSamplerTests {
    @Test func writesEverythingWithTheDefaults() {
        var sampler = LogSampler(initial: 2, thereafter: 1)
        #expect((0..<100).allSatisfy { _ in sampler.admit(atNanoseconds: 7).write })
    }

    @Test func writesNothingPastZeroInitialButEveryNth() {
        var sampler = LogSampler(initial: 0, thereafter: 4)
        let written = (1...12).filter { _ in sampler.admit(atNanoseconds: 0).write }
        #expect(written.count == 3)
    }
}

@Suite struct DebugExporterConfigTests {
    @Test func readsTheCollectorsKeys() {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: [:])
        let root = ConfigMap.parse(yaml: "debug: { verbosity: detailed, sampling_initial: 5, sampling_thereafter: 200 }\n", diagnostics: diagnostics)!
        let c = DebugExporterConfig.read(root.map("debug"))
        #expect(diagnostics.problems.isEmpty)
        #expect(c.verbosity == .detailed && c.samplingInitial == 5 && c.samplingThereafter == 200)
    }

    @Test func refusesAnUnknownVerbosity() {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: [:])
        let root = ConfigMap.parse(yaml: "debug:\n  verbosity: loud\n", diagnostics: diagnostics)!
        _ = DebugExporterConfig.read(root.map("debug"))
        #expect(diagnostics.problems.map(\.description) == ["gw.yaml:2: debug.verbosity: expected basic, normal, detailed, got 'loud'"])
    }
}
