/// How one delivery attempt ended.
public enum DeliveryOutcome: Sendable, Equatable {
    /// The endpoint answered 2xx.
    case delivered
    /// No 2xx. `retryable` failures (connection errors, timeouts, 408, 429,
    /// 5xx) are tried again; the others (any other status) will not get
    /// better by repeating the same request and go to the dead letters at once.
    case failed(message: String, retryable: Bool, retryAfter: Duration?)
}
