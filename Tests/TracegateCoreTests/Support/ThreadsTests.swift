import Synchronization
import Testing
import TracegateCore

#if canImport(Glibc)
import Glibc
#endif

/// The POSIX thread helpers that replace Foundation's Thread, NSCondition and
/// threadDictionary, and the trimming that replaces trimmingCharacters.
@Suite struct ThreadsTests {
    @Test func aStartedThreadRunsWithItsNameCutTo15Bytes() async {
        let name = Mutex<String?>(nil)
        let done = ThreadCondition()
        let finished = Mutex(false)
        startThread(name: "tg-a-rather-long-thread-name") {
            // The kernel's view of the calling thread's name.
            var buffer = [UInt8](repeating: 0, count: 64)
            let fd = open("/proc/thread-self/comm", O_RDONLY)
            let n = fd >= 0 ? read(fd, &buffer, buffer.count) : -1
            if fd >= 0 { close(fd) }
            let text = String(decoding: buffer.prefix(max(0, n)), as: UTF8.self)
            name.withLock { $0 = text.hasSuffix("\n") ? String(text.dropLast()) : text }
            done.lock()
            finished.withLock { $0 = true }
            done.broadcast()
            done.unlock()
        }
        done.lock()
        while !finished.withLock({ $0 }) { _ = done.wait(until: .now + .seconds(5)) }
        done.unlock()
        #expect(name.withLock { $0 } == "tg-a-rather-lon")
    }

    @Test func aTimedWaitTimesOutAtItsDeadlineAndASignalEndsItEarly() {
        let condition = ThreadCondition()
        condition.lock()
        let start = ContinuousClock.now
        let signalled = condition.wait(until: start + .milliseconds(50))
        let waited = ContinuousClock.now - start
        condition.unlock()
        #expect(!signalled)
        #expect(waited >= .milliseconds(50) && waited < .seconds(2))
        // A deadline already passed returns at once.
        condition.lock()
        #expect(!condition.wait(until: .now - .seconds(1)))
        condition.unlock()

        let flag = Mutex(false)
        condition.lock()
        startThread(name: "tg-signal") {
            condition.lock()
            flag.withLock { $0 = true }
            condition.signal()
            condition.unlock()
        }
        var woke = false
        while !flag.withLock({ $0 }) { woke = condition.wait(until: .now + .seconds(10)) }
        condition.unlock()
        #expect(woke)
    }

    final class Releases: Sendable {
        let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
    }

    final class Probe {
        let releases: Releases
        init(_ releases: Releases) { self.releases = releases }
        deinit { releases.count.withLock { $0 += 1 } }
    }

    @Test func aThreadLocalValueIsPerThreadAndReleasedWhenTheThreadEnds() {
        let local = ThreadLocal<Probe>()
        let released = Releases()
        let seenOnOtherThread = Mutex<Bool?>(nil)
        local.value = Probe(released)
        let done = ThreadCondition()
        startThread(name: "tg-local") {
            let before = local.value == nil
            local.value = Probe(released)
            done.lock()
            seenOnOtherThread.withLock { $0 = before }
            done.broadcast()
            done.unlock()
        }
        done.lock()
        while seenOnOtherThread.withLock({ $0 }) == nil { _ = done.wait(until: .now + .seconds(5)) }
        done.unlock()
        #expect(seenOnOtherThread.withLock { $0 } == true)
        #expect(local.value != nil)
        // The other thread's value goes with its thread (destructors run at exit).
        let deadline = ContinuousClock.now + .seconds(5)
        while released.value < 1 && ContinuousClock.now < deadline { usleep(1000) }
        #expect(released.value == 1)
        // Replacing this thread's value releases the old one.
        local.value = nil
        #expect(released.value == 2)
    }

    @Test func trimmingBlanksMatchesFoundationsWhitespaceSets() {
        #expect(" \t a b \u{00A0}\u{2003}".trimmingBlanks() == "a b")
        #expect("\r\n x \n".trimmingBlanks() == "\r\n x \n")
        #expect("\r\n x \n\u{2028}".trimmingBlanks(newlines: true) == "x")
        #expect("\u{85} y\u{0B}".trimmingBlanks(newlines: true) == "y")
        #expect("  ".trimmingBlanks() == "")
        #expect("".trimmingBlanks(newlines: true) == "")
    }
}
