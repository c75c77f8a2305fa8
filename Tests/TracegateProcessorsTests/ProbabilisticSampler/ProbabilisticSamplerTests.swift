import Testing
import TracegateCore
@testable import TracegateProcessors

@Suite struct ProbabilisticSamplerTests {
    func sampler(_ percentage: Double, overrides: [String: Double] = [:], mode: ProbabilisticSamplerConfig.Mode = .proportional, seed: UInt32 = 0)
        -> (ProbabilisticSampler, CollectingConsumer)
    {
        var c = ProbabilisticSamplerConfig()
        c.samplingPercentage = percentage
        c.overrides = overrides
        c.mode = mode
        c.hashSeed = seed
        let out = CollectingConsumer()
        return (ProbabilisticSampler(id: "probabilistic_sampler", config: c, next: out), out)
    }

    func traceIDs(_ count: Int, seed: UInt64) -> [TraceID] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in rng.traceID() }
    }

    /// 100 000 traces at 10%: the standard deviation is sqrt(n·p·(1-p)) ≈ 95
    /// traces, so ±500 (0.5 percentage points, over 5σ) never fails by chance
    /// with a fixed seed yet catches any bias in the threshold.
    @Test func keepsTenPercentOfHundredThousandTracesWithinHalfAPoint() {
        let (s, out) = sampler(10)
        let ids = traceIDs(100_000, seed: 42)
        for chunk in stride(from: 0, to: ids.count, by: 1000) {
            s.consume(serviceBatch("api", ids[chunk..<chunk + 1000].enumerated().map { sampleSpan($1, UInt64($0 + 1)) }))
        }
        #expect((9_500...10_500).contains(out.spanCount))
        #expect(out.discarded.withLock { $0 } == 100_000 - out.spanCount)
    }

    @Test func perServiceOverridesAreHonoured() {
        let (s, out) = sampler(10, overrides: ["checkout": 50, "health": 0])
        let ids = traceIDs(20_000, seed: 7)
        for id in ids {
            s.consume(serviceBatch("checkout", [sampleSpan(id, 1)]))
            s.consume(serviceBatch("search", [sampleSpan(id, 2)]))
            s.consume(serviceBatch("health", [sampleSpan(id, 3)]))
        }
        let kept = out.batches.withLock { $0.flatMap(\.allSpans) }
        let checkout = kept.filter { $0.spanID.value == 1 }.count
        let search = kept.filter { $0.spanID.value == 2 }.count
        // σ ≈ 71 at 50% and 42 at 10% for 20 000 traces.
        #expect((9_600...10_400).contains(checkout))
        #expect((1_800...2_200).contains(search))
        #expect(!kept.contains { $0.spanID.value == 3 })
        // Consistent sampling: a trace kept at 10% is also kept at 50%.
        let checkoutTraces = Set(kept.filter { $0.spanID.value == 1 }.map(\.traceID))
        #expect(kept.filter { $0.spanID.value == 2 }.allSatisfy { checkoutTraces.contains($0.traceID) })
    }

    @Test func twoInstancesTakeIdenticalDecisions() {
        let (a, outA) = sampler(25)
        let (b, outB) = sampler(25)
        for (i, id) in traceIDs(10_000, seed: 99).enumerated() {
            // Different spans of the same trace, as two replicas would see them.
            a.consume(serviceBatch("api", [sampleSpan(id, UInt64(2 * i + 1))]))
            b.consume(serviceBatch("api", [sampleSpan(id, UInt64(2 * i + 2))]))
        }
        let keptA = outA.batches.withLock { $0.flatMap(\.allSpans).map(\.traceID) }
        let keptB = outB.batches.withLock { $0.flatMap(\.allSpans).map(\.traceID) }
        #expect(!keptA.isEmpty)
        #expect(keptA == keptB)
    }

    @Test func writesThresholdToTraceStateOfKeptSpansAndKeepsOtherVendors() throws {
        let (s, _) = sampler(10)
        let keep = TraceID(high: 1, low: 0x00ff_ffff_ffff_ffff)
        let span = try #require(s.sample(sampleSpan(keep, 1, traceState: "vendor=abc,ot=foo:bar"), service: "api"))
        #expect(span.traceState == "ot=th:e666;foo:bar,vendor=abc")
        #expect(s.sample(sampleSpan(keep, 2), service: "api")?.traceState == "ot=th:e666")
        #expect(s.sample(sampleSpan(TraceID(high: 1, low: 0x0010_0000_0000_0000), 1), service: "api") == nil)
    }

    @Test func thresholdFollowsTheSpecification() {
        #expect(SamplingThreshold(percentage: 100).tracestateValue == "0")
        #expect(SamplingThreshold(percentage: 50).tracestateValue == "8")
        #expect(SamplingThreshold(percentage: 25).tracestateValue == "c")
        #expect(SamplingThreshold(percentage: 10).tracestateValue == "e666")
        #expect(SamplingThreshold(tracestateValue: "8")?.rejecting == 1 << 55)
        #expect(SamplingThreshold(tracestateValue: "xyz") == nil)
        // Keep when R >= T.
        #expect(SamplingThreshold(percentage: 50).keeps(randomness: 1 << 55))
        #expect(!SamplingThreshold(percentage: 50).keeps(randomness: (1 << 55) - 1))
    }

    @Test func explicitRandomnessInTraceStateWinsOverTheTraceID() {
        let (s, _) = sampler(50)
        let lowRandomID = TraceID(high: 5, low: 1)
        let highRandomID = TraceID(high: 5, low: 0x00ff_ffff_ffff_ffff)
        #expect(s.sample(sampleSpan(lowRandomID, 1, traceState: "ot=rv:ffffffffffffff"), service: "a") != nil)
        #expect(s.sample(sampleSpan(highRandomID, 1, traceState: "ot=rv:00000000000001"), service: "a") == nil)
    }

    @Test func upstreamThresholdThatKeptLessIsLeftAlone() throws {
        let (s, _) = sampler(50)
        let id = TraceID(high: 5, low: 0x00ff_ffff_ffff_ffff)
        let span = try #require(s.sample(sampleSpan(id, 1, traceState: "ot=th:f"), service: "a"))
        #expect(span.traceState == "ot=th:f")
        let raised = try #require(s.sample(sampleSpan(id, 1, traceState: "ot=th:4"), service: "a"))
        #expect(raised.traceState == "ot=th:8")
    }

    @Test func hashSeedModeKeepsThePercentageAndDependsOnTheSeed() {
        let (a, outA) = sampler(20, mode: .hashSeed, seed: 1)
        let (b, outB) = sampler(20, mode: .hashSeed, seed: 2)
        for (i, id) in traceIDs(20_000, seed: 5).enumerated() {
            a.consume(serviceBatch("api", [sampleSpan(id, UInt64(i + 1))]))
            b.consume(serviceBatch("api", [sampleSpan(id, UInt64(i + 1))]))
        }
        // σ ≈ 57 for 20 000 traces at 20%.
        #expect((3_700...4_300).contains(outA.spanCount))
        #expect((3_700...4_300).contains(outB.spanCount))
        let keptA = Set(outA.batches.withLock { $0.flatMap(\.allSpans).map(\.traceID) })
        let keptB = Set(outB.batches.withLock { $0.flatMap(\.allSpans).map(\.traceID) })
        #expect(keptA != keptB)
        #expect(outA.batches.withLock { $0.flatMap(\.allSpans) }.allSatisfy { $0.traceState.isEmpty })
    }

    /// Reference values from the `mmh3` Python package (MurmurHash3 x86 32-bit,
    /// unsigned), over the 16 id bytes in wire order, for seeds 0, 1 and 22.
    @Test(arguments: [
        ("4bf92f3577b34da6a3ce929d0e0e4736", UInt32(0), UInt32(0x3997_5768)),
        ("4bf92f3577b34da6a3ce929d0e0e4736", 1, 0xa641_4051),
        ("4bf92f3577b34da6a3ce929d0e0e4736", 22, 0x7d22_b8c7),
        ("00000000000000000000000000000001", 0, 0xa126_5bc3),
        ("00000000000000000000000000000001", 22, 0x86b8_7a7f),
        ("000102030405060708090a0b0c0d0e0f", 1, 0xbba7_7653),
    ])
    func hashSeedUsesMurmurHash3AsOtherImplementationsDo(_ hex: String, _ seed: UInt32, _ expected: UInt32) throws {
        let id = try #require(TraceID(hex: hex))
        #expect(HashSeedSampling.hash(id, seed: seed) == expected)
    }

    @Test func readsOverridesAndReportsMissingPercentage() {
        let (c, problems) = readConfig("""
            p:
              sampling_percentage: 12.5
              overrides: { checkout: 100, search: 1 }
            q:
              mode: hash_seed
              sampling_percentage: 101
            """) { root in
            (ProbabilisticSamplerConfig.read(root.map("p")), ProbabilisticSamplerConfig.read(root.map("q")))
        }
        #expect(c?.0.samplingPercentage == 12.5)
        #expect(c?.0.overrides == ["checkout": 100, "search": 1])
        #expect(c?.1.mode == .hashSeed)
        #expect(problems == ["t.yaml:6: q.sampling_percentage: must be a number from 0 to 100, got '101'"])
    }
}
