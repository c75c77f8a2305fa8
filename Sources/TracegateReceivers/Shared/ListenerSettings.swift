import Synchronization

/// A listener's settings for new connections, shared by the listener and its
/// channel initializer (a `Mutex` cannot be captured by an escaping closure;
/// a reference to one can).
final class ListenerSettings<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    init(_ value: Value) { self.value = Mutex(value) }

    var current: Value { value.withLock { $0 } }

    func replace(with new: Value) { value.withLock { $0 = new } }
}
