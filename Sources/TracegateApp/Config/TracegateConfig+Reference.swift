import TracegateCore

extension TracegateConfig {
    /// The key paths the readers ask for while reading `yaml`, whether the
    /// file has them or not, and whatever problems it has. The configuration
    /// reference test compares them with docs/configuration.md.
    static func askedKeyPaths(yaml: String) -> Set<String> {
        let diagnostics = ConfigDiagnostics(file: "reference.yaml", environment: [:])
        var config = TracegateConfig()
        if let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics) {
            config.read(root)
        }
        return diagnostics.askedPaths
    }

    /// The defaults the readers fall back to, by key path, for the same YAML.
    static func askedDefaults(yaml: String) -> [String: ConfigDefault] {
        let diagnostics = ConfigDiagnostics(file: "reference.yaml", environment: [:])
        var config = TracegateConfig()
        if let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics) {
            config.read(root)
        }
        return diagnostics.askedDefaults
    }
}
