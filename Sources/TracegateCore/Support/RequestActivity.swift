import Synchronization

/// How many requests the receivers have taken since the start: lets
/// housekeeping that only pays off while the gateway is idle (`IdleRelease`)
/// see whether it is.
public enum RequestActivity {
    private static let requests = Atomic<Int>(0)

    /// A receiver took a request.
    @inline(__always)
    public static func noteRequest() { requests.add(1, ordering: .relaxed) }

    public static var count: Int { requests.load(ordering: .relaxed) }
}
