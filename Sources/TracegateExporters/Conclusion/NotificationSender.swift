/// POSTs notification requests with one `CurlClient`; one per delivery
/// loop (the handle keeps its connection alive and is not thread-safe).
final class NotificationSender: @unchecked Sendable {
    // @unchecked: each delivery loop owns one and awaits every `send` (on a
    // pool thread) before the next, so the handle is used by one thread at a time.
    private let client = CurlClient()
    let endpoint: String
    let timeout: Duration

    init(endpoint: String, timeout: Duration) {
        self.endpoint = endpoint
        self.timeout = timeout
    }

    /// One attempt; blocks up to `timeout`.
    func send(_ request: NotificationRequest) -> DeliveryOutcome {
        do {
            let response = try client.post(url: endpoint, headers: request.headers, body: request.body, timeout: timeout)
            return Self.outcome(status: response.status, retryAfter: response.retryAfter, body: response.body)
        } catch {
            return .failed(message: "\(error)", retryable: true, retryAfter: nil)
        }
    }

    /// 2xx delivered; 408, 429 and 5xx retryable; other statuses permanent.
    static func outcome(status: Int, retryAfter: Duration?, body: [UInt8]) -> DeliveryOutcome {
        if (200..<300).contains(status) { return .delivered }
        let retryable = status == 408 || status == 429 || status >= 500 || status < 200
        let excerpt = String(decoding: body.prefix(200), as: UTF8.self)
        return .failed(message: "HTTP \(status)\(excerpt.isEmpty ? "" : ": \(excerpt)")", retryable: retryable, retryAfter: retryAfter)
    }
}
