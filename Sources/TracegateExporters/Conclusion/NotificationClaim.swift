import TracegateCore

/// One claim of a postgres store delivery loop: the outbox rows it locked,
/// from reading them to the commit. A pure value that says which rows to
/// bury, drop, retry or delete; the store runs the SQL and the POSTs in the
/// claim's transaction (`PostgresConclusionStore.deliverOnce`).
struct NotificationClaim {
    /// One claimed outbox row.
    struct Item: Sendable {
        var id: String
        var conclusion: TraceConclusion
        /// Rebuilt from the row's `attempts`.
        var delivery: NotificationDelivery
        /// The trace's last activity, epoch seconds, for the latency metric.
        var lastActivity: Double
    }

    /// What one request's outcome asks the store to write.
    struct Writes {
        var delivered: [Item] = []
        /// Rows tried again after `wait`, with the error to keep.
        var retries: [(id: String, wait: Duration, error: String)] = []
        /// Rows given up on: dead letters.
        var dead: [String] = []
    }

    /// Notifications per request (`batch_size`).
    let batchSize: Int
    /// Rows whose payload is not a notification: dead letters at once.
    let unreadable: [String]
    private(set) var items: [Item] = []
    /// Delivered so far: deleted from the outbox at the commit.
    private(set) var delivered: [Item] = []
    private var next = 0
    /// A request failed: the endpoint is failing, the rest waits for later.
    private var halted = false

    /// Rows of `ConclusionSQL.claim`.
    init(rows: [[String?]], batchSize: Int) {
        self.batchSize = batchSize
        var unreadable: [String] = []
        for row in rows {
            guard let id = row[0] else { continue }
            guard let conclusion = TraceConclusion(payloadColumns: row[ConclusionSQL.claimPayloadColumns]) else {
                unreadable.append(id)
                continue
            }
            items.append(
                Item(
                    id: id, conclusion: conclusion, delivery: NotificationDelivery(attempts: Int(row[1] ?? "0") ?? 0),
                    lastActivity: Double(row[2] ?? "0") ?? 0))
        }
        self.unreadable = unreadable
    }

    /// Keeps the items `matches` accepts (`when`); returns the ids of the
    /// others, which are concluded but not sent.
    mutating func keep<E: Error>(where matches: (Item) throws(E) -> Bool) throws(E) -> [String] {
        var kept: [Item] = []
        var dropped: [String] = []
        for item in items[next...] {
            if try matches(item) { kept.append(item) } else { dropped.append(item.id) }
        }
        items = Array(items[..<next]) + kept
        return dropped
    }

    /// The items of the next request, their attempt begun at `now`; nil when
    /// every item was sent or a request failed.
    mutating func nextGroup(now: ContinuousClock.Instant) -> [Item]? {
        guard !halted, next < items.count else { return nil }
        var group = Array(items[next..<min(next + batchSize, items.count)])
        next += group.count
        for i in group.indices { _ = group[i].delivery.begin(now: now) }
        return group
    }

    /// Records how the request carrying `group` ended at `now`.
    mutating func finish<R: RandomNumberGenerator>(
        _ group: [Item], _ outcome: DeliveryOutcome, now: ContinuousClock.Instant, policy: DeliveryPolicy, using rng: inout R
    ) -> Writes {
        var writes = Writes()
        for var item in group {
            switch item.delivery.finish(outcome, now: now, policy: policy, using: &rng) {
            case .delivered:
                writes.delivered.append(item)
            case .waiting(let until):
                writes.retries.append((item.id, until - now, item.delivery.lastError ?? ""))
            default:
                writes.dead.append(item.id)
            }
        }
        delivered += writes.delivered
        if outcome != .delivered { halted = true }
        return writes
    }
}
