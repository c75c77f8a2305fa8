import Testing
import TracegateCore
@testable import TracegateProcessors

@Suite struct ServiceGraphTests {
    static let t0 = ContinuousClock.now
    static let trace = TraceID(high: 7, low: 9)

    static func span(
        _ id: UInt64, parent: UInt64? = nil, kind: SpanKind, millis: Double, status: StatusCode = .unset, attributes: [Attribute] = []
    ) -> Span {
        Span(
            traceID: trace, spanID: SpanID(id), parentSpanID: parent.map(SpanID.init), name: "s\(id)", kind: kind, startTimeUnixNano: 1_000,
            endTimeUnixNano: 1_000 + UInt64(millis * 1e6), attributes: attributes, status: SpanStatus(code: status))
    }

    static func batch(_ service: String, _ spans: [Span]) -> SpanBatch {
        SpanBatch(resourceSpans: [
            ResourceSpans(resource: Resource(attributes: [Attribute("service.name", .string(service))]), scopeSpans: [ScopeSpans(spans: spans)])
        ])
    }

    static func state(_ edit: (inout ServiceGraphConfig) -> Void = { _ in }) -> ServiceGraphState {
        var c = ServiceGraphConfig()
        c.buckets = [.milliseconds(10), .milliseconds(100)]
        edit(&c)
        return ServiceGraphState(config: c)
    }

    @Test func pairsAClientSpanWithTheServerSpanItParentsAcrossBatches() {
        var state = Self.state()
        // The server's span arrives first, from another service's batch.
        state.record(Self.batch("cart", [Self.span(2, parent: 1, kind: .server, millis: 40, status: .error)]), now: Self.t0)
        #expect(state.pendingCount == 1 && state.edgeCount == 0)
        state.record(Self.batch("web", [Self.span(1, kind: .client, millis: 50), Self.span(3, parent: 1, kind: .internal, millis: 1)]), now: Self.t0)
        #expect(state.pendingCount == 0)
        let text = state.render()
        #expect(text.contains(#"traces_service_graph_request_total{client="web",server="cart",connection_type=""} 1"#))
        #expect(text.contains(#"traces_service_graph_request_failed_total{client="web",server="cart",connection_type=""} 1"#))
        #expect(text.contains(#"traces_service_graph_request_server_seconds_bucket{client="web",server="cart",connection_type="",le="0.1"} 1"#))
        #expect(text.contains(#"traces_service_graph_request_server_seconds_sum{client="web",server="cart",connection_type=""} 0.04"#))
        #expect(text.contains(#"traces_service_graph_request_client_seconds_sum{client="web",server="cart",connection_type=""} 0.05"#))
    }

    @Test func anUnpairedClientNamingADatabaseBecomesAnEdgeToIt() {
        var state = Self.state()
        state.record(
            Self.batch("orders", [
                Self.span(1, kind: .client, millis: 3, attributes: [Attribute("db.system", .string("postgresql"))]),
                Self.span(5, kind: .client, millis: 3, attributes: [Attribute("peer.service", .string("payments-api"))]),
                Self.span(6, kind: .client, millis: 3),
                Self.span(8, parent: 77, kind: .server, millis: 3),
            ]), now: Self.t0)
        state.expire(now: Self.t0 + .seconds(1))
        #expect(state.edgeCount == 0, "still within store.ttl")
        state.expire(now: Self.t0 + .seconds(3))
        let text = state.render()
        #expect(text.contains(#"traces_service_graph_request_total{client="orders",server="postgresql",connection_type="database"} 1"#))
        #expect(text.contains(#"traces_service_graph_request_total{client="orders",server="payments-api",connection_type="virtual_node"} 1"#))
        #expect(state.unpaired == ["client": 1, "server": 1])
        #expect(state.pendingCount == 0)
    }

    @Test func theStoreIsBounded() {
        var state = Self.state { $0.maxItems = 2 }
        state.record(Self.batch("a", (1...5).map { Self.span($0, kind: .client, millis: 1) }), now: Self.t0)
        #expect(state.pendingCount == 2 && state.dropped == 3)
    }

    @Test func readsTheKeys() {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: [:])
        let root = ConfigMap.parse(
            yaml: "servicegraph: { latency_histogram_buckets: [10ms, 1s], store: { ttl: 5s, max_items: 50 }, virtual_node_peer_attributes: [peer.service] }\n",
            diagnostics: diagnostics)!
        let c = ServiceGraphConfig.read(root.map("servicegraph"))
        #expect(diagnostics.problems.isEmpty)
        #expect(c.buckets == [.milliseconds(10), .seconds(1)] && c.ttl == .seconds(5) && c.maxItems == 50 && c.peerAttributes == ["peer.service"])
    }
}
