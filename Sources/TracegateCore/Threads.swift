import CProcessMemory
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Plain POSIX threads, a condition variable and thread-local storage, so that
// no module of the gateway needs Foundation's Thread / NSCondition / NSLock:
// importing Foundation maps libFoundation, its ICU data and
// FoundationInternationalization into the process, about 7 MiB of resident
// memory for the idle sidecar, where FoundationEssentials (which has none of
// these three) costs about 2 MiB.

/// Starts a detached thread running `body`. `name` is what `top -H` and
/// `/proc/PID/task/*/comm` show (Linux keeps the first 15 bytes).
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    let box = Unmanaged.passRetained(ThreadBody(name: name, body: body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    #if canImport(Glibc)
    var thread = pthread_t()
    #else
    var thread: pthread_t? = nil
    #endif
    let status = pthread_create(&thread, &attributes, { raw in
        let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        _ = tg_set_thread_name(body.name)
        body.body()
        return nil
    }, box)
    // Foundation's Thread.start() traps too when the thread cannot be created
    // (out of memory or the process's thread limit): nothing sensible remains.
    precondition(status == 0, "pthread_create failed: \(status)")
}

/// Runs a blocking `body` (libpq, a name lookup) on a thread of its own and
/// returns its result to the awaiting task, which holds no thread of the
/// cooperative pool meanwhile. For occasional calls (a start-up check, a
/// probe, maintenance); exports run on `ExportThreadPool`.
public func onThread<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        startThread(name: name) { continuation.resume(returning: body()) }
    }
}

private final class ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// A mutex with a condition variable, used as `NSCondition` is: `lock()`,
/// check a predicate, `wait()` / `wait(until:)`, `unlock()`;
/// `signal()` / `broadcast()` with the lock held.
public final class ThreadCondition: @unchecked Sendable {
    // @unchecked: the two pthread objects are heap-allocated so their
    // addresses never change, and are used only through the pthread calls,
    // which are the synchronization themselves.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        mutex.initialize(to: pthread_mutex_t())
        condition.initialize(to: pthread_cond_t())
        precondition(pthread_mutex_init(mutex, nil) == 0)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if canImport(Glibc)
        // Timed waits measure against the monotonic clock, so a change of
        // the wall clock neither cuts a wait short nor stretches it.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        precondition(pthread_cond_init(condition, &attributes) == 0)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func signal() { pthread_cond_signal(condition) }
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// Waits (lock held) for a signal; may wake spuriously, as NSCondition does.
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits (lock held) for a signal until `deadline`; false when the
    /// deadline passed first.
    @discardableResult
    public func wait(until deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - .now
        if remaining <= .zero { return false }
        #if canImport(Glibc)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let (seconds, attoseconds) = remaining.components
        var nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        var wholeSeconds = now.tv_sec + Int(seconds)
        if nanoseconds >= 1_000_000_000 {
            nanoseconds -= 1_000_000_000
            wholeSeconds += 1
        }
        var until = timespec(tv_sec: wholeSeconds, tv_nsec: nanoseconds)
        return pthread_cond_timedwait(condition, mutex, &until) != ETIMEDOUT
        #else
        let (seconds, attoseconds) = remaining.components
        var relative = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        return pthread_cond_timedwait_relative_np(condition, mutex, &relative) != ETIMEDOUT
        #endif
    }
}

/// One object per thread, released when the thread ends (as Foundation's
/// `Thread.current.threadDictionary` does).
public final class ThreadLocal<Value: AnyObject>: Sendable {
    // Sendable without @unchecked: the only stored property is the key, an
    // integer; each thread's value is reachable from that thread only.
    private let key: pthread_key_t

    public init() {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<AnyObject>.fromOpaque(raw).release() }
        }
        // Fails only past PTHREAD_KEYS_MAX (1024) live keys; deinit frees them.
        precondition(status == 0, "pthread_key_create failed: \(status)")
        self.key = key
    }

    deinit {
        // Values still set on live threads are not released by this; the
        // owners (exporters) outlive their consumer threads.
        pthread_key_delete(key)
    }

    /// This thread's value, if it set one.
    public var value: Value? {
        get {
            guard let raw = pthread_getspecific(key) else { return nil }
            return (Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue() as! Value)
        }
        set {
            if let old = pthread_getspecific(key) { Unmanaged<AnyObject>.fromOpaque(old).release() }
            pthread_setspecific(key, newValue.map { Unmanaged<AnyObject>.passRetained($0).toOpaque() })
        }
    }
}
