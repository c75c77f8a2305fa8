/// A component's settings, as its factory read them from the file.
///
/// Settings are compared, not only read: a reload keeps a running component
/// whose settings did not change (its queue, its connections, its socket).
public protocol ComponentConfig: Sendable {
    /// Whether `other` holds the same settings.
    func isSame(as other: any ComponentConfig) -> Bool
}

extension ComponentConfig where Self: Equatable {
    public func isSame(as other: any ComponentConfig) -> Bool { (other as? Self) == self }
}

/// One component of the file (`exporters.postgres/main`, …): the factory of
/// its type and the settings that factory read.
public struct ConfiguredComponent<Factory: Sendable>: Sendable {
    public let factory: Factory
    public let config: any ComponentConfig

    public init(factory: Factory, config: any ComponentConfig) {
        self.factory = factory
        self.config = config
    }

    /// The settings as the type its factory reads, for the few places that
    /// work on one type (`tracegate migrate` takes a postgres exporter's).
    public func config<C: ComponentConfig>(as type: C.Type) -> C? { config as? C }
}
