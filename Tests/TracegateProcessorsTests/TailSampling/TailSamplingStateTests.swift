import Testing
import TracegateCore
@testable import TracegateProcessors

/// The tail sampler's decisions driven by a made-up clock: `t(5)` is five
/// seconds after the origin.
@Suite struct TailSamplingStateTests {
    let origin = ContinuousClock.now
    func t(_ seconds: Double) -> ContinuousClock.Instant { origin + .milliseconds(Int64(seconds * 1000)) }

    func state(_ policies: [SamplingPolicy], wait: Duration = .seconds(5), configure: (inout TailSamplingConfig) -> Void = { _ in })
        -> TailSamplingState
    {
        var c = TailSamplingConfig()
        c.decisionWait = wait
        c.policies = policies
        configure(&c)
        return TailSamplingState(config: c, origin: origin)
    }

    func id(_ n: UInt64) -> TraceID { TraceID(high: 0xabc, low: n) }

    /// Decides the single trace `spans` (after its decision wait) and says whether it was kept.
    func kept(_ policy: SamplingPolicy.Rule, _ spans: [Span], resource: [Attribute] = []) -> Bool {
        var s = state([SamplingPolicy(name: "p", rule: policy)])
        _ = s.ingest(serviceBatch("svc", spans, resource: resource), now: t(0))
        let out = s.expire(now: t(6))
        #expect(out.keptSpans + out.droppedSpans == spans.count)
        return out.keptSpans == spans.count
    }

    @Test func decidesAfterDecisionWaitAndRecordsThePolicyName() {
        var s = state([SamplingPolicy(name: "everything", rule: .alwaysSample)])
        _ = s.ingest(serviceBatch("api", [sampleSpan(id(1), 1), sampleSpan(id(1), 2, parent: 1)]), now: t(0))
        #expect(s.expire(now: t(4.9)).decisions.isEmpty)
        let out = s.expire(now: t(5.1))
        #expect(out.decisions == [0])
        #expect(out.keptSpans == 2)
        #expect(out.kept.allSpans.allSatisfy { $0.attributes[key: "sampling.policy"] == .string("everything") })
        #expect(s.tracesHeld == 0 && s.bytesHeld == 0)
    }

    /// Spans arrive in bursts 4 s apart over 40 s; only the last burst has the
    /// error. A sampler that decided a fixed time after the first span would
    /// cut the trace; deciding on inactivity keeps it whole.
    @Test func traceArrivingInBurstsOverFortySecondsIsKeptWhole() {
        var s = state([SamplingPolicy(name: "errors", rule: .statusCode([.error]))], wait: .seconds(5))
        var sent = 0
        var kept: [Span] = []
        for burst in 0...10 {
            let now = t(Double(burst) * 4)
            kept += s.expire(now: now).kept.allSpans
            let spans = (0..<3).map { i in
                sampleSpan(id(7), UInt64(burst * 3 + i + 1), parent: 1, status: burst == 10 && i == 2 ? .error : .ok)
            }
            sent += spans.count
            _ = s.ingest(serviceBatch("api", spans), now: now)
        }
        #expect(kept.isEmpty)
        #expect(s.expire(now: t(44.5)).decisions.isEmpty)
        let out = s.expire(now: t(45.2))
        #expect(out.decisions == [0])
        #expect(out.keptSpans == sent)
        #expect(Set(out.kept.allSpans.map(\.spanID.value)).count == 33)
    }

    @Test func maxTraceDurationCapsATraceThatNeverGoesQuiet() {
        var s = state([SamplingPolicy(name: "all", rule: .alwaysSample)], wait: .seconds(5)) { $0.maxTraceDuration = .seconds(10) }
        var decidedAt: Double?
        for second in 0...15 {
            if decidedAt == nil, !s.expire(now: t(Double(second))).decisions.isEmpty { decidedAt = Double(second) }
            _ = s.ingest(serviceBatch("api", [sampleSpan(id(3), UInt64(second + 1))]), now: t(Double(second)))
        }
        #expect(decidedAt == 10)
    }

    /// One trace of 100,000 spans cannot hold the sampler: at 1,000 spans it
    /// is decided on them, the rest follow, and a small trace beside it waits
    /// out its decision wait as usual.
    @Test func maxSpansPerTraceDecidesAHugeTraceAtOnce() {
        var s = state([SamplingPolicy(name: "all", rule: .alwaysSample)]) { $0.maxSpansPerTrace = 1000; $0.numTraces = 10 }
        _ = s.ingest(serviceBatch("api", [sampleSpan(id(2), 1)]), now: t(0))
        var capped = 0, kept = 0, late = 0
        for chunk in 0..<100 {
            let spans = (0..<1000).map { i in sampleSpan(id(1), UInt64(chunk * 1000 + i + 1), parent: 1) }
            let out = s.ingest(serviceBatch("api", spans), now: t(1))
            capped += out.spanCapDecisions
            kept += out.keptSpans
            late += out.lateKeptSpans
            #expect(out.earlyDecisions == 0)
        }
        #expect(capped == 1 && kept == 100_000 && late == 99_000)
        #expect(s.tracesHeld == 1)
        #expect(s.expire(now: t(4.9)).decisions.isEmpty)
        #expect(s.expire(now: t(5.1)).decisions == [0])
    }

    /// With `decision_wait_after_root`, a trace whose root arrived is decided
    /// that long after it even while its children keep the trace busy; a
    /// trace without a root waits for quiet as before.
    @Test func decisionWaitAfterRootDecidesSoonAfterTheRoot() {
        var s = state([SamplingPolicy(name: "all", rule: .alwaysSample)], wait: .seconds(30)) {
            $0.decisionWaitAfterRoot = .seconds(2)
        }
        _ = s.ingest(serviceBatch("api", [sampleSpan(id(1), 2, parent: 1)]), now: t(0))
        _ = s.ingest(serviceBatch("api", [sampleSpan(id(2), 2, parent: 1)]), now: t(0))
        _ = s.ingest(serviceBatch("api", [sampleSpan(id(1), 1)]), now: t(1))  // the root of trace 1
        _ = s.ingest(serviceBatch("api", [sampleSpan(id(1), 3, parent: 1)]), now: t(2.5))
        #expect(s.expire(now: t(2.9)).decisions.isEmpty)
        let out = s.expire(now: t(3.1))
        #expect(out.decisions == [0] && out.keptSpans == 3)
        #expect(s.tracesHeld == 1)
        #expect(s.expire(now: t(29.9)).decisions.isEmpty)
        #expect(s.expire(now: t(30.1)).decisions == [0])
    }

    @Test func lateSpansFollowTheDecision() {
        var s = state([SamplingPolicy(name: "errors", rule: .statusCode([.error]))])
        _ = s.ingest(serviceBatch("api", [sampleSpan(id(1), 1, status: .error), sampleSpan(id(2), 2)]), now: t(0))
        let decided = s.expire(now: t(6))
        #expect(decided.keptSpans == 1 && decided.droppedSpans == 1)
        let late = s.ingest(serviceBatch("api", [sampleSpan(id(1), 3), sampleSpan(id(2), 4), sampleSpan(id(2), 5)]), now: t(30))
        #expect(late.lateKeptSpans == 1 && late.lateDroppedSpans == 2)
        #expect(late.kept.allSpans.map(\.spanID.value) == [3])
        #expect(late.kept.allSpans[0].attributes[key: "sampling.policy"] == .string("errors"))
        #expect(late.droppedSpans == 2)
        #expect(s.tracesHeld == 0)
    }

    @Test func forgottenDecisionStartsANewTrace() {
        var s = state([SamplingPolicy(name: "all", rule: .alwaysSample)]) { $0.sampledCacheSize = 1 }
        _ = s.ingest(serviceBatch("api", [sampleSpan(id(1), 1), sampleSpan(id(2), 2)]), now: t(0))
        _ = s.expire(now: t(6))
        let late = s.ingest(serviceBatch("api", [sampleSpan(id(1), 3), sampleSpan(id(2), 4)]), now: t(7))
        // Only the most recent decision is remembered.
        #expect(late.lateSpans == 1)
        #expect(late.startedTraces == 1)
    }

    /// Ten times `num_traces` distinct traces: the oldest are decided early on
    /// what has arrived, the count never goes over the bound, and every span
    /// is either passed on or given back.
    @Test func memoryStaysBoundedUnderTenTimesNumTraces() {
        var s = state([SamplingPolicy(name: "even", rule: .spanCount(min: 2, max: nil))]) { $0.numTraces = 100 }
        var kept = 0
        var dropped = 0
        var early = 0
        for n in 0..<1_000 {
            let spanCount = n % 2 + 1
            let spans = (0..<spanCount).map { sampleSpan(id(UInt64(n + 1)), UInt64($0 + 1)) }
            let out = s.ingest(serviceBatch("api", spans), now: t(Double(n) / 1000))
            kept += out.keptSpans
            dropped += out.droppedSpans
            early += out.earlyDecisions
            #expect(s.tracesHeld <= 100)
        }
        #expect(early == 900)
        let rest = s.decideAll(now: t(2))
        kept += rest.keptSpans
        dropped += rest.droppedSpans
        #expect(kept == 1_000)
        #expect(dropped == 500)
        #expect(s.tracesHeld == 0 && s.bytesHeld == 0)
    }

    @Test func byteLimitDecidesTheOldestTracesEarly() {
        let big = [Attribute("payload", .string(String(repeating: "x", count: 10_000)))]
        var s = state([SamplingPolicy(name: "all", rule: .alwaysSample)]) { $0.maxBytes = 50_000 }
        var early = 0
        var keptIDs: [UInt64] = []
        for n in 1...20 {
            let out = s.ingest(serviceBatch("api", [sampleSpan(id(UInt64(n)), 1, attributes: big)]), now: t(0))
            early += out.earlyDecisions
            keptIDs += out.kept.allSpans.map(\.traceID.low)
            #expect(s.bytesHeld <= 50_000)
        }
        #expect(early >= 15)
        #expect(keptIDs == Array(1...UInt64(keptIDs.count)))
    }

    @Test func decideAllFlushesEveryHeldTrace() {
        var s = state([SamplingPolicy(name: "all", rule: .alwaysSample)])
        _ = s.ingest(serviceBatch("api", (1...5).map { sampleSpan(id($0), $0) }), now: t(0))
        let out = s.decideAll(now: t(1))
        #expect(out.keptSpans == 5 && out.decisions.count == 5)
        #expect(s.nextWake() == nil)
    }

    @Test func firstMatchingPolicyIsRecorded() {
        var s = state([
            SamplingPolicy(name: "errors", rule: .statusCode([.error])),
            SamplingPolicy(name: "rest", rule: .alwaysSample),
        ])
        _ = s.ingest(serviceBatch("api", [sampleSpan(id(1), 1, status: .error), sampleSpan(id(2), 2)]), now: t(0))
        let out = s.expire(now: t(6))
        let byTrace = Dictionary(out.kept.allSpans.map { ($0.traceID.low, $0.attributes[key: "sampling.policy"]) }, uniquingKeysWith: { a, _ in a })
        #expect(byTrace[1] == .string("errors"))
        #expect(byTrace[2] == .string("rest"))
    }

    @Test func statusCodePolicy() {
        #expect(kept(.statusCode([.error]), [sampleSpan(id(1), 1), sampleSpan(id(1), 2, parent: 1, status: .error)]))
        #expect(!kept(.statusCode([.error]), [sampleSpan(id(1), 1, status: .ok)]))
    }

    @Test func latencyPolicyMeasuresTraceRootOrAnySpan() {
        let ms: UInt64 = 1_000_000
        // Root 0–100 ms, a child 50–400 ms: the trace lasts 400 ms.
        let spans = [sampleSpan(id(1), 1, start: 0, end: 100 * ms), sampleSpan(id(1), 2, parent: 1, start: 50 * ms, end: 400 * ms)]
        #expect(kept(.latency(threshold: .milliseconds(300), upper: nil, measure: .trace), spans))
        #expect(!kept(.latency(threshold: .milliseconds(300), upper: nil, measure: .root), spans))
        #expect(kept(.latency(threshold: .milliseconds(300), upper: nil, measure: .anySpan), spans))
        #expect(!kept(.latency(threshold: .milliseconds(100), upper: .milliseconds(200), measure: .trace), spans))
        #expect(kept(.latency(threshold: .milliseconds(50), upper: .milliseconds(200), measure: .root), spans))
    }

    @Test func stringAttributePolicyMatchesValuesRegexesResourcesAndInverts() throws {
        let spans = [sampleSpan(id(1), 1, attributes: [Attribute("http.route", .string("/api/checkout"))])]
        #expect(kept(.stringAttribute(key: "http.route", values: ["/api/checkout"], patterns: [], invert: false), spans))
        #expect(!kept(.stringAttribute(key: "http.route", values: ["/health"], patterns: [], invert: false), spans))
        #expect(kept(.stringAttribute(key: "http.route", values: ["/health"], patterns: [], invert: true), spans))
        let regex = try CompiledRegex("^/api/")
        #expect(kept(.stringAttribute(key: "http.route", values: [], patterns: [regex], invert: false), spans))
        #expect(!kept(.stringAttribute(key: "http.route", values: [], patterns: [regex], invert: true), spans))
        #expect(kept(
            .stringAttribute(key: "deployment.environment", values: ["prod"], patterns: [], invert: false), spans,
            resource: [Attribute("deployment.environment", .string("prod"))]))
    }

    @Test func numericAndBooleanAttributePolicies() {
        let spans = [sampleSpan(id(1), 1, attributes: [Attribute("http.status_code", .int(503)), Attribute("cache.hit", .bool(false))])]
        #expect(kept(.numericAttribute(key: "http.status_code", min: 500, max: 599, invert: false), spans))
        #expect(!kept(.numericAttribute(key: "http.status_code", min: 200, max: 299, invert: false), spans))
        #expect(kept(.numericAttribute(key: "http.status_code", min: 200, max: 299, invert: true), spans))
        #expect(kept(.booleanAttribute(key: "cache.hit", value: false, invert: false), spans))
        #expect(!kept(.booleanAttribute(key: "cache.hit", value: true, invert: false), spans))
    }

    @Test func spanCountPolicy() {
        let three = (1...3).map { sampleSpan(id(1), $0) }
        #expect(kept(.spanCount(min: 2, max: nil), three))
        #expect(!kept(.spanCount(min: 4, max: nil), three))
        #expect(!kept(.spanCount(min: 1, max: 2), three))
    }

    @Test func probabilisticPolicyKeepsItsShareConsistentlyWithTheHeadSampler() {
        var s = state([SamplingPolicy(name: "ten", rule: .probabilistic(percentage: 10, salt: ""))])
        var rng = SeededGenerator(seed: 11)
        let ids = (0..<10_000).map { _ in rng.traceID() }
        _ = s.ingest(serviceBatch("api", ids.enumerated().map { sampleSpan($1, UInt64($0 + 1)) }), now: t(0))
        let out = s.expire(now: t(6))
        // σ = 30 for 10 000 traces at 10%.
        #expect((850...1_150).contains(out.keptSpans))
        let head = SamplingThreshold(percentage: 10, precision: 14)
        #expect(out.kept.allSpans.allSatisfy { head.keeps(randomness: SamplingThreshold.randomness(of: $0.traceID)) })
    }

    @Test func rateLimitingPolicyCountsSpansPerSecond() {
        var s = state([SamplingPolicy(name: "limit", rule: .rateLimiting(spansPerSecond: 10))])
        for n in 1...6 {
            _ = s.ingest(serviceBatch("api", (1...4).map { sampleSpan(id(UInt64(n)), $0) }), now: t(n <= 3 ? 0 : 1))
        }
        // Traces 1–3 are decided in second 5, traces 4–6 in second 6: two of each kept.
        let first = s.expire(now: t(5.5))
        #expect(first.decisions == [0, 0, nil])
        let second = s.expire(now: t(6.5))
        #expect(second.decisions == [0, 0, nil])
    }

    @Test func andPolicyNeedsEverySubPolicy() {
        let rule = SamplingPolicy.Rule.and([
            SamplingPolicy(name: "errors", rule: .statusCode([.error])),
            SamplingPolicy(name: "slow", rule: .latency(threshold: .milliseconds(1), upper: nil, measure: .trace)),
        ])
        #expect(kept(rule, [sampleSpan(id(1), 1, start: 0, end: 5_000_000, status: .error)]))
        #expect(!kept(rule, [sampleSpan(id(1), 1, start: 0, end: 500, status: .error)]))
        #expect(!kept(rule, [sampleSpan(id(1), 1, start: 0, end: 5_000_000)]))
    }

    @Test func compositePolicySharesItsRateBetweenSubPolicies() {
        let rule = SamplingPolicy.Rule.composite(
            maxTotalSpansPerSecond: 10,
            subPolicies: [
                SamplingPolicy(name: "errors", rule: .statusCode([.error])),
                SamplingPolicy(name: "rest", rule: .alwaysSample),
            ],
            allocation: ["errors": 30])
        var s = state([SamplingPolicy(name: "composite", rule: rule)])
        // Six error traces and six others, one span each, decided in one second.
        for n in 1...12 {
            _ = s.ingest(serviceBatch("api", [sampleSpan(id(UInt64(n)), 1, status: n <= 6 ? .error : .ok)]), now: t(0))
        }
        let out = s.expire(now: t(6))
        let keptIDs = Set(out.kept.allSpans.map(\.traceID.low))
        // Errors get 30% of 10 (3 spans) under their own policy; the other
        // error traces fall through to `rest`, which shares the other 7.
        // Traces of one tick are decided in no particular order.
        #expect(keptIDs.filter { $0 <= 6 }.count >= 3)
        #expect(keptIDs.count == 10)
    }

    @Test func readsPoliciesInTheCollectorsShape() {
        let (c, problems) = readConfig("""
            decision_wait: 2s
            num_traces: 1000
            max_bytes: 64MiB
            decision_cache: { sampled_cache_size: 10, non_sampled_cache_size: 20 }
            policies:
              - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
              - name: checkout
                type: string_attribute
                string_attribute: { key: http.route, values: ["^/checkout"], enabled_regex_matching: true }
              - name: mix
                type: composite
                composite:
                  max_total_spans_per_second: 100
                  policy_order: [slow, rest]
                  composite_sub_policy:
                    - { name: rest, type: always_sample }
                    - { name: slow, type: latency, latency: { threshold_ms: 500 } }
                  rate_allocation: [ { policy: slow, percent: 50 } ]
            """) { TailSamplingConfig.read($0) }
        #expect(problems == [])
        #expect(c?.decisionWait == .seconds(2))
        #expect(c?.maxBytes == 64 << 20)
        #expect(c?.nonSampledCacheSize == 20)
        #expect(c?.policies.map(\.name) == ["errors", "checkout", "mix"])
        if case .composite(_, let subs, let allocation)? = c?.policies.last?.rule {
            #expect(subs.map(\.name) == ["slow", "rest"])
            #expect(allocation == ["slow": 50])
        } else {
            Issue.record("expected a composite policy")
        }
    }

    @Test func reportsPolicyProblemsWithTheirLines() {
        let (_, problems) = readConfig("""
            decision_wait: 10s
            max_trace_duration: 5s
            policies:
              - { name: a, type: nope }
              - { name: b, type: latency, latency: { } }
              - { name: c, type: string_attribute, string_attribute: { key: k, values: ["("], enabled_regex_matching: true } }
            """) { TailSamplingConfig.read($0) }
        #expect(problems.count == 4, "\(problems)")
        #expect(problems[0] == "t.yaml:2: max_trace_duration: must be at least decision_wait")
        #expect(problems[1].hasPrefix("t.yaml:4: policies[0].type: unknown policy type 'nope'"))
        #expect(problems[2] == "t.yaml:5: policies[1].latency.threshold_ms: is required")
        #expect(problems[3].hasPrefix("t.yaml:6: policies[2].string_attribute.values[0]: invalid regular expression"))
    }
}
