import Foundation
import Testing
import TracegateCore
@testable import TracegateExporters

extension ConclusionSQLTests {
    @Test func aClaimedRowReadsAsTheSameNotificationItsPayloadHolds() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        try stored(db, traces: [1])
        let c = try db.connect()
        try c.execute(ConclusionSQL.concludeSweep, parameters: ["100", "0", "0", "conclusion/x"], context: "t")
        // Names a text array must quote, and a payload that is not a notification.
        let odd = #"{"trace_id": "00000000000000000000000000000002", "root_name": null, "root_service": null, "services": ["a b", "c,\"d\\", "NULL", ""], "span_count": 1, "error_count": 0, "start": "2023-11-14T22:13:20.000000Z", "end": "2023-11-14T22:13:20.000000Z", "duration_ms": 0.125, "status": "ok", "complete": false, "missing_parents": ["00000000000000aa"], "updated": true}"#
        for payload in [odd, #"{"trace_id": "x", "services": "none"}"#] {
            try c.execute(
                "INSERT INTO notification_outbox (exporter, trace_id, updated, payload, last_activity_at) VALUES ('conclusion/x', '\\x02', false, $1::jsonb, now())",
                parameters: [payload], context: "t")
        }
        let payloads = try c.execute("SELECT payload::text FROM notification_outbox ORDER BY id", context: "t")
        try c.execute("BEGIN", context: "t")
        let claimed = try c.execute(ConclusionSQL.claim, parameters: ["conclusion/x", "10"], context: "t")
        try c.execute("ROLLBACK", context: "t")
        #expect(claimed.count == 3)
        for (row, payload) in zip(claimed, payloads) {
            let decoded = try? JSONDecoder().decode(TraceConclusion.self, from: Data(payload[0]!.utf8))
            #expect(TraceConclusion(payloadColumns: row[ConclusionSQL.claimPayloadColumns]) == decoded)
        }
        #expect(TraceConclusion(payloadColumns: claimed[1][ConclusionSQL.claimPayloadColumns])?.services == ["a b", "c,\"d\\", "NULL", ""])
    }

    @Test func theNextAttemptIsWhenTheEarliestRetryComesDueNotARowDueAlready() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        try stored(db, traces: [1, 2])
        let c = try db.connect()
        try c.execute(ConclusionSQL.concludeSweep, parameters: ["100", "0", "0", "conclusion/x"], context: "t")
        // Both due now (held by another session, say): nothing to wait for.
        #expect(try c.execute(ConclusionSQL.nextAttempt, parameters: ["conclusion/x"], context: "t") == [[nil]])
        let ids = try c.execute("SELECT id FROM notification_outbox ORDER BY id", context: "t").map { $0[0]! }
        try c.execute(ConclusionSQL.retry, parameters: [ids[0], "30", "HTTP 503"], context: "t")
        let wait = try c.execute(ConclusionSQL.nextAttempt, parameters: ["conclusion/x"], context: "t")
        #expect((Double(wait[0][0] ?? "") ?? 0) > 29 && (Double(wait[0][0] ?? "") ?? 99) <= 30)
    }
}
