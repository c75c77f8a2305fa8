import TracegateCore

/// `otlp`: OTLP/HTTP and OTLP/gRPC listeners feeding the same pipelines.
public struct OTLPReceiverFactory: ReceiverFactory {
    public let type = "otlp"

    public init() {}

    public func read(_ map: ConfigMap) -> OTLPReceiverConfig { OTLPReceiverConfig.read(map) }

    public func build(_ config: OTLPReceiverConfig, _ context: ReceiverContext) async throws -> [any ReceiverService] {
        var built: [any ReceiverService] = []
        if let http = config.http {
            built.append(try await OTLPHTTPReceiver(id: context.id, config: http, ingress: context.ingress, logger: context.logger))
        }
        if let grpc = config.grpc {
            built.append(try await OTLPGRPCReceiver(id: context.id, config: grpc, ingress: context.ingress, logger: context.logger))
        }
        return built
    }
}

extension OTLPReceiverFactory {
    /// Same protocols on the same addresses.
    public func canUpdate(from old: OTLPReceiverConfig, to new: OTLPReceiverConfig) -> Bool {
        old.http?.endpoint == new.http?.endpoint && old.grpc?.endpoint == new.grpc?.endpoint
    }

    /// Each listener takes its new settings (limits, timeouts, TLS files,
    /// tokens and tenants, metadata) for the connections it accepts from now on.
    public func update(_ listeners: [any ReceiverService], from old: OTLPReceiverConfig, to new: OTLPReceiverConfig) throws {
        // Everything that can fail first, so that nothing changes on failure.
        let http = try new.http.map(OTLPHTTPReceiver.settings)
        let grpc = try new.grpc.map(OTLPGRPCReceiver.settings)
        for listener in listeners {
            if let receiver = listener as? OTLPHTTPReceiver, let http { receiver.update(http) }
            if let receiver = listener as? OTLPGRPCReceiver, let grpc { receiver.update(grpc) }
        }
    }
}

extension OTLPReceiverConfig: ComponentConfig {}

extension OTLPHTTPReceiver: ReceiverService {
    public var listeningDescription: String { "\(id)/http@\(localAddress.map { "\($0)" } ?? "?")" }
}

extension OTLPGRPCReceiver: ReceiverService {
    public var listeningDescription: String { "\(id)/grpc@\(localAddress.map { "\($0)" } ?? "?")" }
}
