#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOSSL
import TracegateCore

/// Settings of `receivers.otlp.protocols.http.tls` and `…grpc.tls`, with the
/// collector's `configtls` key names: the receiver serves TLS instead of
/// plain text, and with `client_ca_file` it requires client certificates.
///
/// The files are read and checked when the configuration is read (so that
/// `tracegate validate` finds a missing or broken certificate), and read
/// again when the receiver starts.
public struct ReceiverTLSConfig: Sendable, Equatable {
    /// `cert_file`: PEM file with the server certificate, followed by any
    /// intermediate certificates clients need to build the chain. Required.
    public var certFile: String
    /// `key_file`: PEM file with the private key of `cert_file`. Required.
    public var keyFile: String
    /// `client_ca_file`: PEM file of the CA certificates that sign client
    /// certificates. When set, every client must present a certificate that
    /// chains to one of them, or its handshake is refused. Default: none
    /// (client certificates are neither asked for nor checked).
    public var clientCAFile: String?
    /// `min_version`: the oldest TLS version accepted, `1.2` (default) or `1.3`.
    public var minVersion: MinVersion = .tls12

    /// The TLS versions `min_version` may name.
    public enum MinVersion: String, Sendable, Equatable, CaseIterable {
        case tls12 = "1.2"
        case tls13 = "1.3"

        var nio: TLSVersion {
            switch self {
            case .tls12: .tlsv12
            case .tls13: .tlsv13
            }
        }
    }

    public init(certFile: String, keyFile: String, clientCAFile: String? = nil, minVersion: MinVersion = .tls12) {
        self.certFile = certFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
        self.minVersion = minVersion
    }

    /// Reads a `tls` mapping; nil (with every problem reported, each naming
    /// its key) when it cannot be used.
    public static func read(_ map: ConfigMap) -> ReceiverTLSConfig? {
        var usable = true
        func path(_ key: String, required: Bool) -> String? {
            guard let path = map.string(key) else {
                if map.has(key) {
                    usable = false  // not a single value; reported by the reader
                } else if required {
                    map.report(nil, "\(key) is required")
                    usable = false
                }
                return nil
            }
            guard !path.isEmpty else {
                map.report(key, "must name a file (is its environment variable set?)")
                usable = false
                return nil
            }
            return path
        }
        let certFile = path("cert_file", required: true)
        let keyFile = path("key_file", required: true)
        let clientCAFile = path("client_ca_file", required: false)
        var minVersion = MinVersion.tls12
        if let text = map.string("min_version") {
            if let version = MinVersion(rawValue: text) {
                minVersion = version
            } else {
                let allowed = MinVersion.allCases.map(\.rawValue).joined(separator: ", ")
                map.report("min_version", "expected one of \(allowed), got '\(text)'")
                usable = false
            }
        }
        map.finish()
        guard usable, let certFile, let keyFile else { return nil }
        // Each file on its own first, so that every broken one is reported.
        var filesUsable = true
        func check(_ key: String, _ load: () throws(ReceiverTLSError) -> Void) {
            do throws(ReceiverTLSError) {
                try load()
            } catch {
                map.report(key, error.message)
                filesUsable = false
            }
        }
        check("cert_file") { () throws(ReceiverTLSError) in _ = try certificates(in: certFile, key: "cert_file") }
        check("key_file") { () throws(ReceiverTLSError) in _ = try privateKey(in: keyFile) }
        if let clientCAFile {
            check("client_ca_file") { () throws(ReceiverTLSError) in
                _ = try certificates(in: clientCAFile, key: "client_ca_file")
            }
        }
        guard filesUsable else { return nil }
        let config = ReceiverTLSConfig(
            certFile: certFile, keyFile: keyFile, clientCAFile: clientCAFile, minVersion: minVersion)
        do {
            _ = try config.makeServerContext(applicationProtocols: [])
        } catch {
            map.report(error.key, error.message)
            return nil
        }
        return config
    }

    /// Loads the files and builds the server context, offering
    /// `applicationProtocols` in ALPN (`h2` for gRPC, `http/1.1` for HTTP).
    /// Reads files: call it off the event loops.
    public func makeServerContext(applicationProtocols: [String]) throws(ReceiverTLSError) -> NIOSSLContext {
        let chain = try Self.certificates(in: certFile, key: "cert_file")
        let privateKey = try Self.privateKey(in: keyFile)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        tls.minimumTLSVersion = minVersion.nio
        tls.applicationProtocols = applicationProtocols
        if let clientCAFile {
            let roots = try Self.certificates(in: clientCAFile, key: "client_ca_file")
            tls.trustRoots = .certificates(roots)
            // Clients are identified by certificate, not by host name.
            tls.certificateVerification = .noHostnameVerification
            tls.sendCANameList = true
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            // The files parsed, so what is left is a key that does not belong
            // to the certificate (BoringSSL checks the pair here).
            throw ReceiverTLSError(
                key: "key_file", message: "\(keyFile) cannot be used with cert_file \(certFile) (\(error))")
        }
    }

    private static func contents(of path: String, key: String) throws(ReceiverTLSError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read" : "no such file:"
            throw ReceiverTLSError(key: key, message: "\(reason) \(path)")
        }
        return Array(data)
    }

    private static func privateKey(in path: String) throws(ReceiverTLSError) -> NIOSSLPrivateKey {
        let bytes = try contents(of: path, key: "key_file")
        do {
            return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
        } catch {
            throw ReceiverTLSError(key: "key_file", message: "\(path) holds no usable PEM private key (\(error))")
        }
    }

    private static func certificates(in path: String, key: String) throws(ReceiverTLSError) -> [NIOSSLCertificate] {
        let bytes = try contents(of: path, key: key)
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw ReceiverTLSError(key: key, message: "\(path) holds no valid PEM certificate (\(error))")
        }
        guard !certificates.isEmpty else {
            throw ReceiverTLSError(key: key, message: "\(path) holds no PEM certificate")
        }
        return certificates
    }
}

/// Why a receiver's TLS files cannot be used: the `tls` key at fault and the
/// problem.
public struct ReceiverTLSError: Error, CustomStringConvertible {
    /// The key under `tls` whose file is at fault.
    public var key: String
    public var message: String

    public var description: String { "tls.\(key): \(message)" }
}
