import Foundation
import Testing
@testable import TracegateExporters

/// A fresh database on the PostgreSQL that `make test` starts
/// (TRACEGATE_TEST_DSN). Without it these tests fail: they are not skipped.
struct TestDatabase {
    let dsn: String
    let name: String
    let admin: PGConnection

    init() throws {
        guard let base = ProcessInfo.processInfo.environment["TRACEGATE_TEST_DSN"], !base.isEmpty else {
            throw TestSetupError("TRACEGATE_TEST_DSN is not set: run the tests with `make test`, which starts PostgreSQL")
        }
        admin = try PGConnection(dsn: base, connectTimeout: .seconds(5))
        name = "tg_test_\(UInt32.random(in: 0...UInt32.max))"
        try admin.execute("CREATE DATABASE \(name)", context: "test setup")
        dsn = base + " dbname=\(name)"
    }

    func connect() throws -> PGConnection { try PGConnection(dsn: dsn, connectTimeout: .seconds(5)) }

    func drop() {
        _ = try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", context: "test teardown")
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
