import Testing
import TracegateCore
@testable import TracegateProcessors

@Suite struct SpanMetricsTests {
    static let t0 = ContinuousClock.now

    static func span(
        _ name: String, kind: SpanKind = .server, status: StatusCode = .unset, millis: Double, traceState: String = "",
        attributes: [Attribute] = []
    ) -> Span {
        Span(
            traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), traceState: traceState, name: name, kind: kind, startTimeUnixNano: 1_000,
            endTimeUnixNano: 1_000 + UInt64(millis * 1e6), attributes: attributes, status: SpanStatus(code: status))
    }

    static func batch(_ spans: [Span], service: String = "checkout", resource: [Attribute] = []) -> SpanBatch {
        SpanBatch(resourceSpans: [
            ResourceSpans(
                resource: Resource(attributes: [Attribute("service.name", .string(service))] + resource),
                scopeSpans: [ScopeSpans(spans: spans)])
        ])
    }

    static func config(_ edit: (inout SpanMetricsConfig) -> Void = { _ in }) -> SpanMetricsConfig {
        var c = SpanMetricsConfig()
        c.buckets = [.milliseconds(10), .milliseconds(100)]
        edit(&c)
        return c
    }

    @Test func countsCallsAndDurationsPerLabelSetInTheCollectorsNames() {
        var state = SpanMetricsState(config: Self.config())
        state.record(Self.batch([Self.span("GET /", millis: 5), Self.span("GET /", millis: 50), Self.span("GET /", status: .error, millis: 500)]), now: Self.t0)
        #expect(
            state.render() == """
                # HELP traces_span_metrics_calls_total Spans counted by the spanmetrics processor, scaled by their sampling probability.
                # TYPE traces_span_metrics_calls_total counter
                traces_span_metrics_calls_total{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"} 1
                traces_span_metrics_calls_total{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 2
                # HELP traces_span_metrics_duration_milliseconds Span durations, scaled by their sampling probability.
                # TYPE traces_span_metrics_duration_milliseconds histogram
                traces_span_metrics_duration_milliseconds_bucket{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR",le="10"} 0
                traces_span_metrics_duration_milliseconds_bucket{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR",le="100"} 0
                traces_span_metrics_duration_milliseconds_bucket{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR",le="+Inf"} 1
                traces_span_metrics_duration_milliseconds_sum{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"} 500
                traces_span_metrics_duration_milliseconds_count{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"} 1
                traces_span_metrics_duration_milliseconds_bucket{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET",le="10"} 1
                traces_span_metrics_duration_milliseconds_bucket{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET",le="100"} 2
                traces_span_metrics_duration_milliseconds_bucket{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET",le="+Inf"} 2
                traces_span_metrics_duration_milliseconds_sum{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 55
                traces_span_metrics_duration_milliseconds_count{service_name="checkout",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 2

                """)
    }

    @Test func aSampledSpanCountsForTheSpansItStandsFor() {
        var state = SpanMetricsState(config: Self.config())
        // th:8 rejects half (p = 1/2), th:c three quarters (p = 1/4).
        state.record(Self.batch([Self.span("a", millis: 1, traceState: "ot=th:8"), Self.span("a", millis: 1, traceState: "vendor=x,ot=th:c;rv:0123456789abcd")]), now: Self.t0)
        #expect(state.render().contains(#"traces_span_metrics_calls_total{service_name="checkout",span_name="a",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 6"#))
        #expect(SpanMetricsState.weight("ot=th:0") == 1)
        #expect(SpanMetricsState.weight("") == 1)
    }

    @Test func dimensionsComeFromTheSpanThenTheResourceThenTheDefault() {
        var state = SpanMetricsState(config: Self.config {
            $0.dimensions = [.init(name: "http.method", defaultValue: "GET"), .init(name: "deployment.environment"), .init(name: "region")]
        })
        state.record(
            Self.batch(
                [Self.span("x", millis: 1, attributes: [Attribute("http.method", .string("POST")), Attribute("region", .string("eu \"west\""))]),
                 Self.span("x", millis: 1)],
                resource: [Attribute("deployment.environment", .string("prod"))]),
            now: Self.t0)
        let text = state.render()
        #expect(text.contains(#"status_code="STATUS_CODE_UNSET",http_method="POST",deployment_environment="prod",region="eu \"west\""} 1"#))
        // No region and no default for it: the label is left out.
        #expect(text.contains(#"status_code="STATUS_CODE_UNSET",http_method="GET",deployment_environment="prod"} 1"#))
    }

    @Test func labelSetsPastTheLimitGoToOneOverflowSeries() {
        var state = SpanMetricsState(config: Self.config { $0.cardinalityLimit = 2 })
        state.record(Self.batch((0..<5).map { Self.span("op\($0)", millis: 1) }), now: Self.t0)
        state.record(Self.batch([Self.span("op0", millis: 1)]), now: Self.t0)
        #expect(state.seriesCount == 2)
        #expect(state.overflowSpans == 3)
        #expect(state.render().contains("traces_span_metrics_calls_total{otel_metric_overflow=\"true\"} 3\n"))
        #expect(state.render().contains(#"span_name="op0",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 2"#))
    }

    @Test func idleSeriesExpire() {
        var state = SpanMetricsState(config: Self.config { $0.metricsExpiration = .seconds(60) })
        state.record(Self.batch([Self.span("old", millis: 1)]), now: Self.t0)
        state.record(Self.batch([Self.span("new", millis: 1)]), now: Self.t0 + .seconds(50))
        state.expire(now: Self.t0 + .seconds(70))
        #expect(state.seriesCount == 1)
        #expect(!state.render().contains("\"old\"") && state.render().contains("\"new\""))
    }

    @Test func secondsAsTheUnitAndOwnNamespace() {
        var state = SpanMetricsState(config: Self.config { $0.unit = .s; $0.namespace = "red"; $0.buckets = [.milliseconds(250)] })
        state.record(Self.batch([Self.span("a", millis: 100)]), now: Self.t0)
        #expect(state.render().contains(#"red_duration_seconds_bucket{service_name="checkout",span_name="a",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET",le="0.25"} 1"#))
        #expect(state.render().contains(#"red_duration_seconds_sum{service_name="checkout",span_name="a",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 0.1"#))
    }

    @Test func readsTheKeysAndReportsProblemsWithLines() {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: [:])
        let root = ConfigMap.parse(
            yaml: """
                spanmetrics:
                  histogram: { unit: s, explicit: { buckets: [100ms, 1s, 500ms] } }
                  dimensions: [ { name: http.method, default: GET }, { name: service.name } ]
                  cardinality_limit: 100
                  metrics_expiration: 5m
                """, diagnostics: diagnostics)!
        let c = SpanMetricsConfig.read(root.map("spanmetrics"))
        #expect(c.unit == .s && c.cardinalityLimit == 100 && c.metricsExpiration == .seconds(300))
        #expect(c.buckets == [.milliseconds(100), .seconds(1)])
        #expect(c.dimensions == [.init(name: "http.method", defaultValue: "GET")])
        #expect(
            diagnostics.problems.map(\.description).sorted() == [
                "gw.yaml:2: spanmetrics.histogram.explicit.buckets[2]: bucket bounds must increase",
                "gw.yaml:3: spanmetrics.dimensions[1].name: service.name is already a label",
            ])
    }
}
