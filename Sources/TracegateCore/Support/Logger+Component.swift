import Logging

extension Logger {
    /// This logger with `key` set to `value` on everything it logs (the
    /// component a log line is about: `exporter`, `processor`, …).
    public func with(_ key: String, _ value: String) -> Logger {
        var logger = self
        logger[metadataKey: key] = "\(value)"
        return logger
    }
}
