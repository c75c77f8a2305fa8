#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOSSL

/// `tls` of the `otlp` exporter, with the collector's `configtls` key names.
public struct GRPCClientTLSOptions: Sendable, Equatable {
    /// `insecure`: plain HTTP/2 (h2c) for a `host:port` endpoint. Default
    /// false, as in the collector: without it a `host:port` gets TLS.
    public var insecure = false
    /// `ca_file`: PEM file of CAs to trust instead of the system's.
    public var caFile: String?
    /// `cert_file`: PEM client certificate (and chain), for servers that verify clients.
    public var certFile: String?
    /// `key_file`: PEM private key of `cert_file`.
    public var keyFile: String?
    /// `insecure_skip_verify`: accept any server certificate. For tests only.
    public var insecureSkipVerify = false

    public init() {}

    /// The client context: ALPN `h2` (gRPC runs on HTTP/2 only), the
    /// system's CAs or `ca_file`, the client certificate if any. Reads
    /// files: call it off the event loops.
    func makeContext() throws(GRPCClientTLSError) -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.applicationProtocols = ["h2"]
        if let caFile {
            tls.trustRoots = .certificates(try Self.certificates(caFile, key: "ca_file"))
        }
        if let certFile, let keyFile {
            tls.certificateChain = try Self.certificates(certFile, key: "cert_file").map { .certificate($0) }
            do {
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw GRPCClientTLSError(key: "key_file", message: "\(keyFile): not a readable PEM private key (\(error))")
            }
        }
        if insecureSkipVerify { tls.certificateVerification = .none }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw GRPCClientTLSError(key: "key_file", message: "\(keyFile ?? "") cannot be used with cert_file \(certFile ?? "") (\(error))")
        }
    }

    private static func certificates(_ path: String, key: String) throws(GRPCClientTLSError) -> [NIOSSLCertificate] {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw GRPCClientTLSError(key: key, message: "\(path): no such file or not readable")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw GRPCClientTLSError(key: key, message: "\(path): not a PEM certificate file (\(error))")
        }
        guard !certificates.isEmpty else { throw GRPCClientTLSError(key: key, message: "\(path) holds no certificate") }
        return certificates
    }
}

/// A `tls` file that cannot be used, with the key that names it.
struct GRPCClientTLSError: Error {
    var key: String
    var message: String
}
