import Logging
import Testing
import TracegateCore
@testable import TracegateExporters

@Suite struct LoadBalancingTests {
    func traceIDs(_ count: Int) -> [TraceID] {
        var state: UInt64 = 1234
        func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            return HashRing.mix(state)
        }
        return (0..<count).map { _ in TraceID(high: next(), low: next()) }
    }

    @Test func ringSpreadsTracesEvenlyOverEndpoints() {
        let ring = HashRing(endpoints: ["a:4318", "b:4318", "c:4318"], virtualNodes: 200)
        var counts = [0, 0, 0]
        for id in traceIDs(30_000) { counts[ring.endpoint(for: id)] += 1 }
        // 200 points per endpoint keep each share within 15% of a third.
        #expect(counts.allSatisfy { (8_500...11_500).contains($0) }, "\(counts)")
    }

    @Test func removingAnEndpointMovesOnlyItsTraces() {
        let three = HashRing(endpoints: ["a:4318", "b:4318", "c:4318"], virtualNodes: 200)
        let two = HashRing(endpoints: ["a:4318", "b:4318"], virtualNodes: 200)
        for id in traceIDs(5_000) where three.endpoint(for: id) != 2 {
            #expect(two.endpoint(for: id) == three.endpoint(for: id))
        }
    }

    @Test func twoInstancesWithTheSameListRouteAlike() {
        let a = HashRing(endpoints: ["x:1", "y:2"], virtualNodes: 50)
        let b = HashRing(endpoints: ["x:1", "y:2"], virtualNodes: 50)
        #expect(traceIDs(2_000).allSatisfy { a.endpoint(for: $0) == b.endpoint(for: $0) })
    }

    @Test func splitSendsEveryTraceToOneEndpointWithItsResource() {
        var c = LoadBalancingExporterConfig()
        c.hostnames = ["127.0.0.1:1", "127.0.0.1:2"]
        let exporter = LoadBalancingExporter(id: "loadbalancing", config: c, logger: Logger(label: "test"))
        let ids = traceIDs(200)
        var spans: [Span] = []
        for (i, id) in ids.enumerated() {
            for s in 0..<3 { spans.append(Span(traceID: id, spanID: SpanID(UInt64(i * 3 + s + 1)), name: "op", startTimeUnixNano: 1, endTimeUnixNano: 2)) }
        }
        let resource = Resource(attributes: [Attribute("service.name", .string("api"))])
        let batch = SpanBatch(resourceSpans: [ResourceSpans(resource: resource, scopeSpans: [ScopeSpans(spans: spans)])])
        let parts = exporter.split(batch)
        #expect(parts.map(\.count).reduce(0, +) == 600)
        #expect(parts.allSatisfy { $0.count > 0 })
        var owner: [TraceID: Int] = [:]
        for (i, part) in parts.enumerated() {
            #expect(part.batch.resourceSpans.allSatisfy { $0.resource == resource })
            part.batch.forEachSpan { _, _, span in
                #expect(owner[span.traceID, default: i] == i)
                owner[span.traceID] = i
            }
        }
        #expect(owner.count == 200)
    }

    @Test func refusesTheWholeBatchWhenAnEndpointQueueIsFull() throws {
        var c = LoadBalancingExporterConfig()
        c.hostnames = ["127.0.0.1:1", "127.0.0.1:2"]
        var http = OTLPHTTPExporterConfig()
        http.sendingQueue.queueSize = 10
        c.endpointProtocol = .otlphttp(http)
        let exporter = LoadBalancingExporter(id: "loadbalancing", config: c, logger: Logger(label: "test"))
        let spans = traceIDs(40).enumerated().map { Span(traceID: $1, spanID: SpanID(UInt64($0 + 1)), name: "op", startTimeUnixNano: 1, endTimeUnixNano: 2) }
        let batch = SpanBatch(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: spans)])])
        #expect(throws: ExportFailure.self) { try exporter.export(batch) }
        // Nothing was handed over: all reservations were given back.
        #expect(exporter.endpointQueues.allSatisfy { $0.currentStats.reservedSpans == 0 && $0.currentStats.queuedSpans == 0 })
    }

    @Test func readsTheCollectorsShape() {
        let diagnostics = ConfigDiagnostics(file: "t.yaml", environment: [:])
        let root = ConfigMap.parse(yaml: """
            routing_key: traceID
            resolver:
              static: { hostnames: ["tier2-a:4318", "tier2-b:4318"] }
            protocol:
              otlphttp: { compression: none, timeout: 5s }
            """, diagnostics: diagnostics)!
        let c = LoadBalancingExporterConfig.read(root)
        #expect(diagnostics.problems.isEmpty, "\(diagnostics.problems)")
        #expect(c.hostnames == ["tier2-a:4318", "tier2-b:4318"])
        guard case .otlphttp(let http) = c.endpointProtocol else {
            Issue.record("expected otlphttp, got \(c.endpointProtocol)")
            return
        }
        #expect(http.gzip == false && http.timeout == .seconds(5))

        let bad = ConfigDiagnostics(file: "t.yaml", environment: [:])
        _ = LoadBalancingExporterConfig.read(ConfigMap.parse(yaml: "routing_key: service\nprotocol: { otlphttp: { endpoint: http://x } }\n", diagnostics: bad)!)
        #expect(bad.problems.map(\.description) == [
            "t.yaml:1: routing_key: only traceID is supported, got 'service'",
            "t.yaml:1: resolver: exactly one of static or dns is required",
            "t.yaml:2: protocol.otlphttp.endpoint: is set per endpoint from the resolver",
        ])

        let dns = ConfigDiagnostics(file: "t.yaml", environment: [:])
        let d = LoadBalancingExporterConfig.read(
            ConfigMap.parse(yaml: "resolver: { dns: { hostname: tail.internal, port: 4319, interval: 10s } }\nprotocol: { otlphttp: {} }\n", diagnostics: dns)!)
        #expect(dns.problems.isEmpty, "\(dns.problems)")
        #expect(d.dns?.hostname == "tail.internal" && d.dns?.port == 4319 && d.dns?.interval == .seconds(10))
    }

    @Test func readsTheGRPCProtocol() throws {
        let diagnostics = ConfigDiagnostics(file: "t.yaml", environment: [:])
        let c = LoadBalancingExporterConfig.read(ConfigMap.parse(yaml: """
            resolver:
              dns: { hostname: tail.internal }
            protocol:
              otlp: { tls: { insecure: true }, timeout: 2s, compression: none }
            """, diagnostics: diagnostics)!)
        #expect(diagnostics.problems.isEmpty, "\(diagnostics.problems)")
        guard case .otlp(let grpc) = c.endpointProtocol else {
            Issue.record("expected otlp, got \(c.endpointProtocol)")
            return
        }
        #expect(grpc.tls.insecure && grpc.timeout == .seconds(2) && !grpc.gzip)
        // The collector's OTLP/gRPC port when none is given.
        #expect(c.dns?.port == 4317)
    }

    @Test func needsExactlyOneProtocol() {
        let cases: [(String, [String])] = [
            ("resolver: { static: { hostnames: [a:1] } }\n", ["t.yaml:1: protocol: exactly one of otlp (OTLP/gRPC) or otlphttp (OTLP/HTTP) is required"]),
            (
                "resolver: { static: { hostnames: [a:1] } }\nprotocol:\n  otlp: {}\n  otlphttp: {}\n",
                ["t.yaml:2: protocol: exactly one of otlp (OTLP/gRPC) or otlphttp (OTLP/HTTP) is required"]
            ),
            (
                "resolver:\n  static:\n    hostnames:\n      - a:1\n      - nohostport\nprotocol:\n  otlp: { endpoint: x:1 }\n",
                [
                    "t.yaml:7: protocol.otlp.endpoint: is set per endpoint from the resolver",
                    "t.yaml:5: resolver.static.hostnames: expected host:port (the port is required), got 'nohostport'",
                ]
            ),
        ]
        for (yaml, expected) in cases {
            let diagnostics = ConfigDiagnostics(file: "t.yaml", environment: [:])
            _ = LoadBalancingExporterConfig.read(ConfigMap.parse(yaml: yaml, diagnostics: diagnostics)!)
            #expect(diagnostics.problems.map(\.description) == expected, "\(yaml)")
        }
    }

    @Test func resolvesANameToItsAddresses() async throws {
        let endpoints = try #require(await DNSLookup.endpoints("localhost", port: 4318, timeout: .seconds(5)))
        #expect(endpoints.contains("127.0.0.1:4318") || endpoints.contains("[::1]:4318"), "\(endpoints)")
        #expect(await DNSLookup.endpoints("no-such-host.invalid", port: 1, timeout: .seconds(5)) == nil)
    }

    @Test func changingTheEndpointsKeepsTheQueuesOfThoseThatStay() {
        var c = LoadBalancingExporterConfig()
        c.dns = DNSResolverConfig()
        let exporter = LoadBalancingExporter(id: "loadbalancing", config: c, logger: Logger(label: "test"))
        let empty = SpanBatch(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: [
            Span(traceID: TraceID(high: 1, low: 1), spanID: SpanID(1), name: "op", startTimeUnixNano: 1, endTimeUnixNano: 2)
        ])])])
        // Before the first resolution there is nowhere to send: retry later.
        #expect(throws: ExportFailure.self) { try exporter.export(empty) }
        let first = exporter.update(endpoints: ["10.0.0.2:4318", "10.0.0.1:4318"])
        #expect(first.added.count == 2 && first.removed.isEmpty)
        #expect(exporter.endpoints == ["10.0.0.1:4318", "10.0.0.2:4318"])
        let kept = exporter.endpointQueues[0]
        let second = exporter.update(endpoints: ["10.0.0.1:4318", "10.0.0.3:4318"])
        #expect(second.added.count == 1 && second.removed.count == 1)
        #expect(exporter.endpointQueues[0] === kept)
        #expect(exporter.update(endpoints: ["10.0.0.3:4318", "10.0.0.1:4318"]).added.isEmpty)
    }
}
