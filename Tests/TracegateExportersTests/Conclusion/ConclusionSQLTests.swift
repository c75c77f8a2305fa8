import Foundation
import Testing
import TracegateCore
@testable import TracegateExporters

/// The postgres store's statements against a real PostgreSQL: conclusion
/// once, only when the window has passed, and claims that skip each other.
@Suite struct ConclusionSQLTests {
    func stored(_ db: TestDatabase, traces: [UInt64]) throws {
        var config = PostgresExporterConfig()
        config.dsn = db.dsn
        let exporter = PostgresExporter(id: "postgres", config: config, logger: quietLogger)
        for t in traces { try exporter.export(sampleBatch(traceLow: t)) }
        exporter.close()
    }

    func hexList(_ traces: [UInt64]) -> String {
        "{" + traces.map { TraceID(high: 0x0102_0304_0506_0708, low: $0).hex }.joined(separator: ",") + "}"
    }

    @Test func aCompleteTraceNamedForConcludeAfterRootIsDueAtOnce() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        try stored(db, traces: [2])
        let c = try db.connect()
        #expect(try c.execute(ConclusionSQL.concludeIDs, parameters: [hexList([2]), "60", "300", "conclusion/x", "false", "{}"], context: "t").isEmpty)
        let done = try c.execute(ConclusionSQL.concludeIDs, parameters: [hexList([2]), "60", "300", "conclusion/x", "false", hexList([2])], context: "t")
        #expect(done.count == 1 && done[0][1] == "true")
    }

    @Test func concludesATraceOnceAndOnlyAfterItsWindow() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        try stored(db, traces: [1])
        let c = try db.connect()
        // The span just arrived: a 60 s window has not passed.
        #expect(try c.execute(ConclusionSQL.concludeIDs, parameters: [hexList([1]), "60", "300", "conclusion/x", "false", "{}"], context: "t").isEmpty)
        let state = try c.execute(ConclusionSQL.state, parameters: [hexList([1]), "60", "300", "false"], context: "t")
        #expect(state.count == 1 && state[0][1] == "f")
        #expect((Double(state[0][3] ?? "") ?? 0) > 55)
        // With a zero window it concludes, once.
        let done = try c.execute(ConclusionSQL.concludeIDs, parameters: [hexList([1]), "0", "0", "conclusion/x", "false", "{}"], context: "t")
        #expect(done.count == 1 && done[0][1] == "true" && done[0][2] == "f")
        #expect(try c.execute(ConclusionSQL.concludeIDs, parameters: [hexList([1]), "0", "0", "conclusion/x", "false", "{}"], context: "t").isEmpty)
        #expect(try c.execute(ConclusionSQL.concludeSweep, parameters: ["100", "0", "0", "conclusion/x"], context: "t").isEmpty)
        let payload = try c.execute("SELECT payload::text FROM notification_outbox", context: "t")
        let conclusion = try JSONDecoder().decode(TraceConclusion.self, from: Data(payload[0][0]!.utf8))
        #expect(conclusion.traceID == TraceID(high: 0x0102_0304_0506_0708, low: 1).hex)
        #expect(conclusion.rootName == "GET /users/{id}" && conclusion.rootService == "users" && conclusion.services == ["users"])
        #expect(conclusion.spanCount == 2 && conclusion.errorCount == 1 && conclusion.status == "error" && conclusion.complete)
        #expect(conclusion.start == "2023-11-14T22:13:20.123456Z" && conclusion.durationMs == 100)
    }

    @Test func theSweepConcludesWhatNoTimerCovers() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        try stored(db, traces: [1, 2, 3])
        let c = try db.connect()
        let first = try c.execute(ConclusionSQL.concludeSweep, parameters: ["2", "0", "0", "conclusion/x"], context: "t")
        let second = try c.execute(ConclusionSQL.concludeSweep, parameters: ["2", "0", "0", "conclusion/x"], context: "t")
        #expect(first.count == 2 && second.count == 1)
        #expect(try c.execute("SELECT count(*) FROM notification_outbox", context: "t")[0][0] == "3")
    }

    @Test func twoSessionsNeverClaimTheSameNotification() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        try stored(db, traces: [1, 2])
        let a = try db.connect()
        let b = try db.connect()
        try a.execute(ConclusionSQL.concludeSweep, parameters: ["100", "0", "0", "conclusion/x"], context: "t")
        try a.execute("BEGIN", context: "t")
        try b.execute("BEGIN", context: "t")
        let claimedA = try a.execute(ConclusionSQL.claim, parameters: ["conclusion/x", "1"], context: "t")
        let claimedB = try b.execute(ConclusionSQL.claim, parameters: ["conclusion/x", "10"], context: "t")
        #expect(claimedA.count == 1 && claimedB.count == 1 && claimedA[0][0] != claimedB[0][0])
        try a.execute(ConclusionSQL.deleteDelivered, parameters: ["{\(claimedA[0][0]!)}"], context: "t")
        try a.execute("COMMIT", context: "t")
        try b.execute(ConclusionSQL.bury, parameters: ["{\(claimedB[0][0]!)}", "HTTP 500"], context: "t")
        try b.execute("COMMIT", context: "t")
        #expect(try a.execute("SELECT count(*) FROM notification_outbox", context: "t")[0][0] == "0")
        #expect(try a.execute("SELECT attempts, last_error FROM notification_dead_letters", context: "t") == [["1", "HTTP 500"]])
        #expect(try a.execute(ConclusionSQL.requeueDead, parameters: ["conclusion/x"], context: "t") == [["1"]])
        #expect(try a.execute("SELECT attempts, last_error FROM notification_outbox", context: "t") == [["0", "HTTP 500"]])
    }
}

extension ConclusionSQLTests {
    @Test func aNotificationMarkedDeliveredIsNotClaimedAgainAfterACrash() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        try stored(db, traces: [1])
        let worker = try db.connect()
        let marks = try db.connect()
        try worker.execute(ConclusionSQL.concludeSweep, parameters: ["100", "0", "0", "conclusion/x"], context: "t")
        try worker.execute("BEGIN", context: "t")
        let claimed = try worker.execute(ConclusionSQL.claim, parameters: ["conclusion/x", "8"], context: "t")
        #expect(claimed.count == 1)
        // The endpoint answered 2xx; the mark commits at once; then the
        // process dies before its claim commits.
        try marks.execute(ConclusionSQL.markDelivered, parameters: ["{\(claimed[0][0]!)}"], context: "t")
        try worker.execute("ROLLBACK", context: "t")
        let other = try db.connect()
        #expect(try other.execute(ConclusionSQL.claim, parameters: ["conclusion/x", "8"], context: "t").isEmpty)
        try other.execute(ConclusionSQL.cleanDelivered, context: "t")
        #expect(try other.execute("SELECT (SELECT count(*) FROM notification_outbox) + (SELECT count(*) FROM notification_delivered)", context: "t") == [["0"]])
    }
}
