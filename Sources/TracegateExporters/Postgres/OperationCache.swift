import Synchronization
import TracegateCore

/// The (service, span name, kind) triples this process has written to
/// `span_operations`, so that a batch adds only triples it has not seen: after
/// warm-up, a batch costs one hash lookup per span and no SQL. Bounded: past
/// `capacity` distinct triples the memory is dropped and triples are written
/// again (the insert skips what is there).
final class OperationCache: Sendable {
    struct Operation: Hashable, Sendable {
        var service: String
        var name: String
        var kind: Int16
    }

    private let known = Mutex<Set<Operation>>([])
    let capacity: Int

    init(capacity: Int = 50_000) { self.capacity = capacity }

    /// The triples of `batch` not yet written, sorted: two transactions
    /// inserting overlapping triples take their row locks in the same order,
    /// so they wait for each other instead of deadlocking.
    func unknown(in batch: SpanBatch) -> [Operation] {
        var seen = Set<Operation>()
        known.withLock { known in
            for rs in batch.resourceSpans {
                let service = rs.resource.serviceName
                for ss in rs.scopeSpans {
                    for span in ss.spans {
                        let op = Operation(service: service, name: span.name, kind: Int16(clamping: span.kind.rawValue))
                        if !known.contains(op) { seen.insert(op) }
                    }
                }
            }
        }
        return seen.sorted { ($0.service, $0.name, $0.kind) < ($1.service, $1.name, $1.kind) }
    }

    /// Called once the transaction that wrote `ops` committed.
    func markWritten(_ ops: [Operation]) {
        if ops.isEmpty { return }
        known.withLock { known in
            if known.count + ops.count > capacity { known.removeAll(keepingCapacity: true) }
            known.formUnion(ops)
        }
    }

    /// The statement adding `ops` (parameters: three arrays).
    static let insertSQL = """
        INSERT INTO span_operations (service_name, span_name, kind)
        SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[]) ON CONFLICT DO NOTHING
        """

    static func parameters(_ ops: [Operation]) -> [String?] {
        [PostgresClient.arrayLiteral(ops.map(\.service)), PostgresClient.arrayLiteral(ops.map(\.name)), "{" + ops.map { String($0.kind) }.joined(separator: ",") + "}"]
    }
}
