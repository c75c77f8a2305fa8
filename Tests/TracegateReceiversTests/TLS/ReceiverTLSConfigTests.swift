import Foundation
import Testing
import TracegateCore

@testable import TracegateReceivers

/// `protocols.{http,grpc}.tls`: every problem is reported under its key, and
/// good files make a server context. Certificates come from the `openssl` CLI.
@Suite struct ReceiverTLSConfigTests {
    /// A fresh directory with `a.crt`/`a.key` and `b.crt`/`b.key`: two
    /// unrelated self-signed EC certificates.
    static func makeCertificates() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tls-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for name in ["a", "b"] {
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            openssl.arguments = [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", dir.appendingPathComponent("\(name).key").path,
                "-out", dir.appendingPathComponent("\(name).crt").path,
                "-days", "1", "-subj", "/CN=\(name)", "-addext", "subjectAltName=IP:127.0.0.1",
            ]
            openssl.standardOutput = FileHandle.nullDevice
            openssl.standardError = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
            try #require(openssl.terminationStatus == 0, "openssl req failed")
        }
        return dir
    }

    static func read(_ yaml: String) -> (ReceiverTLSConfig?, [ConfigProblem]) {
        let diagnostics = ConfigDiagnostics(file: "t.yaml", environment: [:])
        guard let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics) else { return (nil, diagnostics.problems) }
        let config = ReceiverTLSConfig.read(root.map("tls"))
        return (config, diagnostics.problems)
    }

    @Test func readsGoodFilesAndBuildsContextsForBothProtocols() throws {
        let dir = try Self.makeCertificates()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (config, problems) = Self.read("""
            tls:
              cert_file: \(dir.path)/a.crt
              key_file: \(dir.path)/a.key
              client_ca_file: \(dir.path)/b.crt
              min_version: "1.3"
            """)
        #expect(problems.isEmpty, "\(problems)")
        let tls = try #require(config)
        #expect(tls.minVersion == .tls13)
        #expect(tls.clientCAFile == "\(dir.path)/b.crt")
        _ = try tls.makeServerContext(applicationProtocols: ["h2"])
        _ = try tls.makeServerContext(applicationProtocols: ["http/1.1"])
    }

    @Test func reportsMissingKeysAndABadMinVersion() {
        let (config, problems) = Self.read("""
            tls:
              min_version: "1.1"
            """)
        #expect(config == nil)
        #expect(problems.map(\.path).sorted() == ["tls", "tls", "tls.min_version"])
        #expect(problems.contains { $0.message == "cert_file is required" })
        #expect(problems.contains { $0.message == "key_file is required" })
        #expect(problems.contains { $0.message.contains("expected one of 1.2, 1.3, got '1.1'") })
    }

    @Test func namesTheKeyOfEveryUnusableFile() throws {
        let dir = try Self.makeCertificates()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (config, problems) = Self.read("""
            tls:
              cert_file: \(dir.path)/missing.crt
              key_file: \(dir.path)/a.crt
              client_ca_file: \(dir.path)/a.key
            """)
        #expect(config == nil)
        let byPath = Dictionary(problems.map { ($0.path, $0.message) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["tls.cert_file"] == "no such file: \(dir.path)/missing.crt")
        #expect(byPath["tls.key_file"]?.contains("no usable PEM private key") == true)
        #expect(byPath["tls.client_ca_file"]?.contains("no valid PEM certificate") == true)
        #expect(problems.count == 3)
    }

    @Test func reportsAKeyThatIsNotTheCertificatesOwn() throws {
        let dir = try Self.makeCertificates()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (config, problems) = Self.read("""
            tls:
              cert_file: \(dir.path)/a.crt
              key_file: \(dir.path)/b.key
            """)
        #expect(config == nil)
        #expect(problems.map(\.path) == ["tls.key_file"])
        #expect(problems.first?.message.contains("cannot be used with cert_file \(dir.path)/a.crt") == true)
    }
}
