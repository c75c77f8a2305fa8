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

extension OTLPReceiverConfig: ComponentConfig {}

extension OTLPHTTPReceiver: ReceiverService {
    public var listeningDescription: String { "\(id)/http@\(localAddress.map { "\($0)" } ?? "?")" }
}

extension OTLPGRPCReceiver: ReceiverService {
    public var listeningDescription: String { "\(id)/grpc@\(localAddress.map { "\($0)" } ?? "?")" }
}
