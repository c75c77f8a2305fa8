import Testing
@testable import TracegateExporters

@Suite struct MigrationTests {
    @Test func upDownAndStatus() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let migrator = try Migrator(dsn: db.dsn)
        #expect(try migrator.status().current == 0)
        #expect(try migrator.status().pending == Migrations.all.map(\.version))

        let applied = try migrator.up()
        #expect(applied.map(\.version) == Migrations.all.map(\.version))
        #expect(try migrator.status().pending.isEmpty)
        #expect(try migrator.up().isEmpty)  // idempotent

        let c = try db.connect()
        #expect(try c.execute("SELECT to_regclass('trace_spans') IS NOT NULL").first?.first == "t")

        for m in Migrations.all.reversed() {
            #expect(try migrator.down()?.version == m.version)
        }
        #expect(try migrator.down() == nil)
        #expect(try c.execute("SELECT to_regclass('trace_spans') IS NULL").first?.first == "t")
    }

    @Test func refusesASchemaNewerThanItKnows() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let migrator = try Migrator(dsn: db.dsn)
        try migrator.up()
        try db.connect().execute("INSERT INTO tracegate_schema_migrations (version, name) VALUES (999, 'from the future')")
        #expect {
            try migrator.checkNotNewer()
        } throws: { error in
            (error as? PostgresError)?.code == .schemaTooNew
        }
        #expect(throws: PostgresError.self) { try migrator.up() }
    }
}

extension PGConnection {
    @discardableResult
    func execute(_ sql: String) throws -> [[String?]] { try execute(sql, context: "test") }
}
