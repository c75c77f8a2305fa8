/// Migration 4: the notification outbox and dead letters of trace conclusion
/// (`conclusion/<name>` exporters with `store: postgres`). docs/schema.md
/// describes both tables.
extension Migrations {
    static let notifications = Migration(
        version: 4, name: "notification_outbox",
        up: #"""
            -- A concluded trace gets one outbox row per notification in the same
            -- transaction that sets traces.concluded_at. Deliverers claim rows with
            -- FOR UPDATE SKIP LOCKED, so each row is sent by one replica.
            CREATE TABLE notification_outbox (
                id               bigserial   PRIMARY KEY,
                exporter         text        NOT NULL,
                trace_id         bytea       NOT NULL,
                -- true for a second notification after late spans (late_spans: renotify)
                updated          boolean     NOT NULL DEFAULT false,
                payload          jsonb       NOT NULL,
                -- gateway clock: the trace's last span, for the latency metric
                last_activity_at timestamptz NOT NULL,
                created_at       timestamptz NOT NULL DEFAULT now(),
                attempts         integer     NOT NULL DEFAULT 0,
                next_attempt_at  timestamptz NOT NULL DEFAULT now(),
                last_error       text
            );
            CREATE INDEX notification_outbox_due ON notification_outbox (exporter, next_attempt_at);

            -- Written (committed at once, from a second connection) right after an
            -- endpoint answered 2xx, while the outbox row is still locked by the
            -- claim's transaction; claims skip marked rows. A process killed
            -- before that transaction commits so does not send them again.
            CREATE TABLE notification_delivered (
                id           bigint      PRIMARY KEY,
                delivered_at timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE notification_outbox IS 'Notifications of concluded traces not yet delivered; a row is deleted once its endpoint answered 2xx.';

            -- Notifications that failed max_attempts times (or were refused with a
            -- 4xx), with the last error. `tracegate notifications retry-dead` moves
            -- them back to the outbox.
            CREATE TABLE notification_dead_letters (
                id               bigserial   PRIMARY KEY,
                exporter         text        NOT NULL,
                trace_id         bytea       NOT NULL,
                updated          boolean     NOT NULL DEFAULT false,
                payload          jsonb       NOT NULL,
                last_activity_at timestamptz NOT NULL,
                created_at       timestamptz NOT NULL,
                attempts         integer     NOT NULL,
                last_error       text        NOT NULL,
                dead_at          timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX notification_dead_letters_exporter ON notification_dead_letters (exporter, dead_at);
            COMMENT ON TABLE notification_dead_letters IS 'Notifications given up on, with their last error; tracegate notifications retry-dead re-queues them.';
            """#,
        down: """
            DROP TABLE notification_delivered;
            DROP TABLE notification_dead_letters;
            DROP TABLE notification_outbox;
            """)
}
