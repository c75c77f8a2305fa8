import Testing
import TracegateCore
@testable import TracegateExporters

@Suite struct MemoryTraceTableTests {
    let t0 = ContinuousClock.now

    func table(maxTraces: Int = 100, renotify: Bool = false) -> MemoryTraceTable {
        MemoryTraceTable(inactivity: .seconds(1), maxWait: .seconds(5), maxTraces: maxTraces, renotify: renotify, origin: t0)
    }

    @Test func aCompleteTraceConcludesAfterInactivityNotBefore() {
        var t = table()
        _ = t.observe(conclusionBatch([testSpan(1, 10), testSpan(1, 11, parent: 10, error: true)]), now: t0, wallUnixNano: 0)
        let due1 = t.popDue(now: t0 + .milliseconds(990))
        #expect(due1.isEmpty)
        // A span moves the deadline.
        _ = t.observe(conclusionBatch([testSpan(1, 12, parent: 10)], service: "billing"), now: t0 + .milliseconds(500), wallUnixNano: 0)
        let due2 = t.popDue(now: t0 + .milliseconds(1100))
        #expect(due2.isEmpty)
        let done = t.popDue(now: t0 + .milliseconds(1500))
        #expect(done.count == 1)
        let c = done[0].conclusion
        #expect(c.traceID == TraceID(high: 1, low: 1).hex)
        #expect(c.complete && c.missingParents.isEmpty)
        #expect(c.spanCount == 3 && c.errorCount == 1 && c.status == "error")
        #expect(c.services == ["billing", "checkout"] && c.rootService == "checkout" && c.rootName == "op")
        #expect(t.openCount == 0)
    }

    @Test func anIncompleteTraceWaitsMaxWaitAndNamesItsMissingParents() {
        var t = table()
        _ = t.observe(conclusionBatch([testSpan(2, 21, parent: 20)]), now: t0, wallUnixNano: 0)
        let due3 = t.popDue(now: t0 + .seconds(4))
        #expect(due3.isEmpty)
        let done = t.popDue(now: t0 + .seconds(5))
        #expect(done.count == 1)
        #expect(!done[0].conclusion.complete)
        #expect(done[0].conclusion.missingParents == [SpanID(20).hex])
        #expect(done[0].conclusion.rootName == nil)
    }

    @Test func aMissingParentThatArrivesMakesTheTraceCompleteAndShortensItsWait() {
        var t = table()
        _ = t.observe(conclusionBatch([testSpan(3, 31, parent: 30)]), now: t0, wallUnixNano: 0)
        _ = t.observe(conclusionBatch([testSpan(3, 30)]), now: t0 + .seconds(2), wallUnixNano: 0)
        let done = t.popDue(now: t0 + .seconds(3))
        #expect(done.count == 1 && done[0].conclusion.complete)
    }

    @Test func concludeAfterRootEndsACompleteTraceThatLongAfterItsRootArrived() {
        var t = MemoryTraceTable(inactivity: .seconds(60), maxWait: .seconds(300), maxTraces: 100, renotify: false, origin: t0, concludeAfterRoot: .seconds(2))
        // Children first, the root last: as SDKs export a root that ends last.
        _ = t.observe(conclusionBatch([testSpan(4, 41, parent: 40), testSpan(4, 42, parent: 40)]), now: t0, wallUnixNano: 0)
        _ = t.observe(conclusionBatch([testSpan(4, 40)]), now: t0 + .seconds(1), wallUnixNano: 0)
        // A trace without its root waits max_wait as before.
        _ = t.observe(conclusionBatch([testSpan(5, 51, parent: 50)]), now: t0 + .seconds(1), wallUnixNano: 0)
        #expect(t.popDue(now: t0 + .milliseconds(2900)).isEmpty)
        let done = t.popDue(now: t0 + .milliseconds(3100))
        #expect(done.map(\.conclusion.traceID) == [TraceID(high: 1, low: 4).hex])
        #expect(done.first?.conclusion.spanCount == 3)
        #expect(t.popDue(now: t0 + .seconds(100)).isEmpty, "the rootless trace waits max_wait")
        #expect(t.openCount == 1)
    }

    @Test func whenFullTheTraceWithTheNearestDeadlineConcludesEarly() {
        var t = table(maxTraces: 2)
        _ = t.observe(conclusionBatch([testSpan(1, 10)]), now: t0, wallUnixNano: 0)
        _ = t.observe(conclusionBatch([testSpan(2, 20)]), now: t0 + .milliseconds(100), wallUnixNano: 0)
        let early = t.observe(conclusionBatch([testSpan(3, 30)]), now: t0 + .milliseconds(200), wallUnixNano: 0)
        #expect(early.map(\.conclusion.traceID) == [TraceID(high: 1, low: 1).hex])
        #expect(t.evicted == 1 && t.openCount == 2)
    }

    @Test func lateSpansAreIgnoredOrReopenTheTraceAsUpdated() {
        var ignoring = table()
        _ = ignoring.observe(conclusionBatch([testSpan(1, 10)]), now: t0, wallUnixNano: 0)
        let due4 = ignoring.popDue(now: t0 + .seconds(2))
        #expect(due4.count == 1)
        _ = ignoring.observe(conclusionBatch([testSpan(1, 11, parent: 10)]), now: t0 + .seconds(3), wallUnixNano: 0)
        #expect(ignoring.lateTraces == 1 && ignoring.openCount == 0)
        let due5 = ignoring.popDue(now: t0 + .seconds(10))
        #expect(due5.isEmpty)

        var renotifying = table(renotify: true)
        _ = renotifying.observe(conclusionBatch([testSpan(1, 10)]), now: t0, wallUnixNano: 0)
        let due6 = renotifying.popDue(now: t0 + .seconds(2))
        #expect(due6.first?.conclusion.updated == false)
        _ = renotifying.observe(conclusionBatch([testSpan(1, 11, parent: 10)]), now: t0 + .seconds(3), wallUnixNano: 0)
        let again = renotifying.popDue(now: t0 + .seconds(5))
        #expect(again.count == 1)
        #expect(again[0].conclusion.updated && again[0].conclusion.spanCount == 2 && again[0].conclusion.complete)
    }
}
