import ArgumentParser
import Foundation
import Histogram
import NIOCore
import NIOPosix
import TracegateCore
import TracegateExporters
import TracegateOTLP

/// Measures Tracegate: in-process decode rates, and load over OTLP/HTTP
/// against a running gateway. Each subcommand prints one JSON object on
/// stdout (for `make bench`) and a readable summary on stderr.
@main
struct TracegateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracegate-bench",
        abstract: "Load generator and benchmark driver for Tracegate.",
        subcommands: [Decode.self, Load.self, Copy.self, Footprint.self])
}

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

struct ShapeOptions: ParsableArguments {
    @Option(help: "Spans in each request.") var spansPerRequest = 100
    @Option(help: "Spans in each trace.") var spansPerTrace = 10
    @Option(help: "Attributes on each span.") var attributes = 8
    @Option(help: "Bytes of each string attribute value.") var attributeSize = 16
    @Option(help: "Distinct services (resources).") var services = 3
    @Option(help: "Fraction of spans with error status.") var errorRatio = 0.01

    var shape: TrafficShape {
        TrafficShape(
            spansPerRequest: spansPerRequest, spansPerTrace: spansPerTrace, attributesPerSpan: attributes,
            attributeSize: attributeSize, services: services, errorRatio: errorRatio)
    }
}

extension TracegateBench {
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode rate of a payload against protobuf-c's bare unpack (default allocator and arena), one core.")

        @Option(help: "An ExportTraceServiceRequest file (e.g. Tests/Fixtures/many_spans.binpb).") var fixture: String
        @Option(help: "Seconds per measurement.") var seconds = 3.0
        @Flag(help: "Measure only the decoder (for profiling).") var decoderOnly = false
        @Option(help: "Instead of rates: thread CPU time of this many decodes (and arena unpacks unless --decoder-only), best of fifteen rounds; steadier on a busy machine, and a fixed amount of work to profile.") var iterations = 0
        @Option(help: "An OTLP/JSON file to measure the JSON decoder on as well (e.g. the same request as JSON).") var json: String?
        @Option(help: "With rates: also the thread CPU time of this many decodes and arena unpacks, interleaved, best of fifteen rounds (cpu_ratio_vs_arena); 0: not measured.") var cpuIterations = 100

        func run() throws {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: fixture)))
            let spans = try OTLPProtobufDecoder.decode(bytes).batch.spanCount
            func measure(_ body: (UnsafeRawBufferPointer) -> Int) -> Double { measure(bytes, body) }
            func measure(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) -> Int) -> Double {
                bytes.withUnsafeBytes { raw in
                    var iterations = 0
                    for _ in 0..<20 { _ = body(raw) }  // warm up
                    let clock = ContinuousClock()
                    let start = clock.now
                    let end = start + .nanoseconds(Int64(seconds * 1e9))
                    while clock.now < end {
                        for _ in 0..<10 { _ = body(raw) }
                        iterations += 10
                    }
                    return Double(iterations) / (clock.now - start).timeInterval
                }
            }
            // JSON: spans/s and MB/s of the JSON decoder on its own file.
            func measureJSON() throws -> (spansPerSecond: Double, mbPerSecond: Double)? {
                guard let json else { return nil }
                let jsonBytes = Array(try Data(contentsOf: URL(fileURLWithPath: json)))
                let jsonSpans = try OTLPJSONDecoder.decode(jsonBytes).batch.spanCount
                let rate = measure(jsonBytes) { raw in (try? OTLPJSONDecoder.decode(raw))?.batch.spanCount ?? 0 }
                note(
                    "tracegate JSON decode".padding(toLength: 40, withPad: " ", startingAt: 0)
                        + String(format: "%12.0f spans/s %8.1f MB/s  (%d bytes, %d spans)", rate * Double(jsonSpans), rate * Double(jsonBytes.count) / 1e6, jsonBytes.count, jsonSpans))
                return (rate * Double(jsonSpans), rate * Double(jsonBytes.count) / 1e6)
            }
            // Thread CPU time of a fixed amount of work, best of fifteen rounds,
            // unpack and decode interleaved: steadier than rates on a busy machine.
            func cpuSeconds(_ iterations: Int, _ body: (UnsafeRawBufferPointer) -> Int) -> Double {
                bytes.withUnsafeBytes { raw in
                    var start = timespec(), end = timespec()
                    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
                    for _ in 0..<iterations { _ = body(raw) }
                    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
                    return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
                }
            }
            func cpuTimes(_ iterations: Int, decoderOnly: Bool) -> (decode: Double, unpack: Double) {
                var unpack = Double.infinity, decode = Double.infinity
                for _ in 0..<(decoderOnly ? 1 : 15) {
                    if !decoderOnly { unpack = min(unpack, cpuSeconds(iterations) { ProtobufBaseline.unpack($0, allocator: .arena) }) }
                    decode = min(decode, cpuSeconds(iterations) { raw in (try? OTLPProtobufDecoder.decode(raw))?.batch.spanCount ?? 0 })
                }
                return (decode, unpack)
            }
            if iterations > 0 {
                let (decode, unpack) = cpuTimes(iterations, decoderOnly: decoderOnly)
                let perIteration = { (seconds: Double) in seconds / Double(iterations) * 1e6 }
                note(String(format: "CPU per payload: decode %.1f µs, arena unpack %.1f µs; decode / arena unpack = %.1f%%", perIteration(decode), perIteration(unpack), unpack / decode * 100))
                return
            }
            if decoderOnly {
                let rate = measure { raw in (try? OTLPProtobufDecoder.decode(raw))?.batch.spanCount ?? 0 }
                note(String(format: "tracegate decode: %.0f spans/s", rate * Double(spans)))
                _ = try measureJSON()
                return
            }
            let system = measure { ProtobufBaseline.unpack($0, allocator: .system) }
            let arena = measure { ProtobufBaseline.unpack($0, allocator: .arena) }
            let decode = measure { raw in (try? OTLPProtobufDecoder.decode(raw))?.batch.spanCount ?? 0 }
            let mb = Double(bytes.count) / 1e6
            note(String(format: "payload: %d bytes, %d spans", bytes.count, spans))
            for (name, rate) in [("protobuf-c unpack, default allocator", system), ("protobuf-c unpack, arena", arena), ("tracegate decode (arena + model)", decode)] {
                note(name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: "%12.0f spans/s %8.1f MB/s", rate * Double(spans), rate * mb))
            }
            note(String(format: "decode / arena unpack = %.1f%%", decode / arena * 100))
            var cpuRatio: Double? = nil
            if cpuIterations > 0 {
                let cpu = cpuTimes(cpuIterations, decoderOnly: false)
                cpuRatio = cpu.unpack / cpu.decode
                note(String(format: "CPU time, best of 15 × %d: decode / arena unpack = %.1f%%", cpuIterations, cpu.unpack / cpu.decode * 100))
            }
            var fields: [String: Any] = [
                "scenario": "decode", "payload_bytes": bytes.count, "spans_per_payload": spans,
                "unpack_system_spans_per_s": system * Double(spans), "unpack_arena_spans_per_s": arena * Double(spans),
                "decode_spans_per_s": decode * Double(spans), "decode_mb_per_s": decode * mb,
                "ratio_vs_arena": decode / arena, "ratio_vs_system": decode / system,
            ]
            if let cpuRatio { fields["cpu_ratio_vs_arena"] = cpuRatio }
            if let jsonRate = try measureJSON() {
                fields["json_decode_spans_per_s"] = jsonRate.spansPerSecond
                fields["json_decode_mb_per_s"] = jsonRate.mbPerSecond
            }
            emit(fields)
        }
    }

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send OTLP load (HTTP protobuf, HTTP JSON or gRPC) to a gateway and report what it acknowledged.")

        @Option(help: "http-protobuf, http-json or grpc.") var `protocol`: LoadProtocol = .httpProtobuf
        @Option(help: "The gateway's traces URL (HTTP; default http://127.0.0.1:4318/v1/traces) or http://host:port (gRPC; default http://127.0.0.1:4317).") var endpoint: String?
        @Option(help: "Concurrent keep-alive connections.") var connections = 4
        @Option(help: "How long to send, in seconds.") var duration = 10.0
        @Option(help: "Stop after this many spans (0: no limit).") var spans = 0
        @Option(help: "Open loop: spans per second to offer in total (0: closed loop, as fast as acknowledged).") var rate = 0.0
        @Option(help: "After the run, wait for the spans to land in this PostgreSQL and report the landed rate.") var dsn: String?
        @Option(help: "A label for the report.") var label = "load"
        @Option(help: "Closed loop: milliseconds to wait after a refusal (429/503, gRPC UNAVAILABLE/RESOURCE_EXHAUSTED) before the next request, as a client honouring backpressure would.") var refusalBackoffMs = 5.0
        @OptionGroup var shapeOptions: ShapeOptions

        func run() async throws {
            let endpoint = self.endpoint ?? `protocol`.defaultEndpoint
            guard let url = URL(string: endpoint), let host = url.host, let port = url.port else {
                throw ValidationError("endpoint must look like http://host:port/path")
            }
            let loadProtocol = `protocol`
            let shape = shapeOptions.shape
            let generator = TrafficGenerator(shape: shape, encoding: loadProtocol == .httpJSON ? .json : .protobuf)
            let group = MultiThreadedEventLoopGroup.singleton
            var landedBaseline = 0
            if let dsn { landedBaseline = (try? countRows(dsn)) ?? 0 }

            let perConnectionInterval: Duration? =
                rate > 0 ? .nanoseconds(Int64(1e9 / (rate / Double(shape.spansPerRequest)) * Double(connections))) : nil
            let spanLimit = spans
            let requestLimit = spanLimit > 0 ? (spanLimit + shape.spansPerRequest - 1) / shape.spansPerRequest : Int.max
            let clock = ContinuousClock()
            let start = clock.now
            let end = start + .nanoseconds(Int64(duration * 1e9))
            let backoff = refusalBackoffMs
            let path = url.path
            // A write to a connection the gateway has closed (at shutdown, say)
            // must fail that connection, not kill the generator.
            signal(SIGPIPE, SIG_IGN)
            // One thread per connection, paced with nanosleep (see
            // BlockingHTTPConnection for why not tasks on an event loop).
            @Sendable func runConnection(_ stream: Int) -> ConnectionResult {
                var result = ConnectionResult()
                let connection: any LoadConnection
                do {
                    connection = try loadProtocol.connect(host: host, port: port, path: path, group: group)
                } catch {
                    note("connection \(stream): \(error)")
                    result.statuses["connection error", default: 0] += 1
                    return result
                }
                defer { connection.close() }
                var sequence = 0
                var next = start
                while clock.now < end {
                    let mine = sequence * connections + stream
                    if mine >= requestLimit { break }
                    let body = generator.request(stream: stream, sequence: sequence)
                    if perConnectionInterval != nil {
                        sleep(until: next, clock)
                        // Counted from the schedule, not from when the request
                        // left: a late client must not hide a slow server.
                        _ = result.lag.record(UInt64(max(0, (clock.now - next).nanoseconds / 1000)))
                    } else {
                        next = clock.now
                    }
                    let outcome: LoadOutcome
                    do {
                        outcome = try connection.send(body)
                    } catch {
                        result.statuses["connection error", default: 0] += 1
                        break
                    }
                    let latency = clock.now - next
                    _ = result.latency.record(UInt64(max(0, latency.nanoseconds / 1000)))
                    result.statuses[outcome.label, default: 0] += 1
                    if outcome.accepted {
                        result.ackedSpans += shape.spansPerRequest
                    } else if outcome.refused && perConnectionInterval == nil && backoff > 0 {
                        sleep(until: clock.now + .nanoseconds(Int64(backoff * 1e6)), clock)
                    }
                    sequence += 1
                    if let interval = perConnectionInterval { next += interval }
                }
                return result
            }
            let results = await withTaskGroup(of: ConnectionResult.self) { tasks in
                for stream in 0..<connections {
                    tasks.addTask {
                        await withCheckedContinuation { (done: CheckedContinuation<ConnectionResult, Never>) in
                            Thread { done.resume(returning: runConnection(stream)) }.start()
                        }
                    }
                }
                var all: [ConnectionResult] = []
                for await r in tasks { all.append(r) }
                return all
            }
            let elapsed = (clock.now - start).timeInterval
            var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            var lag = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            var statuses: [String: Int] = [:]
            var acked = 0
            for r in results {
                latency.add(r.latency)
                lag.add(r.lag)
                acked += r.ackedSpans
                for (k, v) in r.statuses { statuses[k, default: 0] += v }
            }
            let requests = statuses.values.reduce(0, +)
            func ms(_ p: Double) -> Double { Double(latency.valueAtPercentile(p)) / 1000 }
            var report: [String: Any] = [
                "scenario": label, "protocol": loadProtocol.rawValue, "connections": connections, "duration_s": elapsed, "offered_rate": rate,
                "shape": shape.description, "requests": requests, "acked_spans": acked,
                "acked_spans_per_s": Double(acked) / elapsed, "statuses": statuses,
                "latency_ms": ["p50": ms(50), "p90": ms(90), "p99": ms(99), "max": Double(latency.maxRecorded) / 1000],
                "send_lag_ms": ["p50": Double(lag.valueAtPercentile(50)) / 1000, "p99": Double(lag.valueAtPercentile(99)) / 1000, "max": Double(lag.maxRecorded) / 1000],
            ]
            note(String(format: "%@: %d spans acknowledged in %.1f s = %.0f spans/s over %d %@ connections (%@)", label, acked, elapsed, Double(acked) / elapsed, connections, loadProtocol.rawValue, rate > 0 ? "open loop at \(Int(rate)) spans/s" : "closed loop"))
            note(String(format: "latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; statuses %@", ms(50), ms(90), ms(99), Double(latency.maxRecorded) / 1000, "\(statuses)"))
            if let dsn {
                let landed = try await waitForRows(dsn: dsn, expected: landedBaseline + acked, timeout: .seconds(120))
                let window = try landedWindow(dsn)
                report["landed_spans"] = landed - landedBaseline
                report["landed_spans_per_s"] = window > 0 ? Double(landed - landedBaseline) / window : 0
                report["lost_spans"] = max(0, landedBaseline + acked - landed)
                note(String(format: "landed in PostgreSQL: %d spans (%.0f spans/s between first and last ingest); acknowledged but missing: %d", landed - landedBaseline, window > 0 ? Double(landed - landedBaseline) / window : 0, max(0, landedBaseline + acked - landed)))
            }
            emit(report)
        }

        func countRows(_ dsn: String) throws -> Int {
            Int(try PostgresClient(dsn: dsn).query("SELECT count(*) FROM trace_spans").first?.first??.description ?? "0") ?? 0
        }

        func landedWindow(_ dsn: String) throws -> Double {
            let rows = try PostgresClient(dsn: dsn).query(
                "SELECT EXTRACT(EPOCH FROM max(ingested_at) - min(ingested_at)) FROM trace_spans WHERE ingested_at > now() - interval '10 minutes'")
            return Double(rows.first?.first??.description ?? "0") ?? 0
        }

        /// Waits until `expected` rows are in `trace_spans`. `count(*)` over a
        /// million rows costs the server ~100 ms of CPU, which polling every
        /// few hundred milliseconds would take from the very writes being
        /// measured: the size of the partitions (a `stat` each) is polled
        /// instead, and rows are counted once it stops growing.
        func waitForRows(dsn: String, expected: Int, timeout: Duration) async throws -> Int {
            let deadline = ContinuousClock.now + timeout
            let client = try PostgresClient(dsn: dsn)
            func size() throws -> String {
                let rows = try client.query(
                    "SELECT coalesce(sum(pg_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = 'trace_spans'::regclass")
                return rows.first?.first??.description ?? ""
            }
            var last = try countRows(dsn)
            var previousSize = try size()
            while last < expected && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
                let current = try size()
                if current == previousSize { last = try countRows(dsn) }
                previousSize = current
            }
            return last
        }
    }

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Raw binary COPY of the rows the load generator's spans become, straight into trace_spans (the sink's ceiling).")

        @Option(help: "PostgreSQL DSN (schema migrated).") var dsn: String
        @Option(help: "Spans to write.") var spans = 200_000
        @Option(help: "Rows per COPY.") var batchSize = 8192
        @Option(help: "Concurrent connections.") var connections = 2
        @Option(help: "The table to COPY into (a partition of trace_spans, say).") var table = "trace_spans"
        @OptionGroup var shapeOptions: ShapeOptions

        func run() async throws {
            let shape = shapeOptions.shape
            let generator = TrafficGenerator(shape: shape)
            // Build and encode every payload first: only the COPY is timed.
            var payloads: [[UInt8]] = []
            var batch = SpanBatch()
            var sequence = 0
            var encodingSeconds = 0.0
            func encode(_ batch: SpanBatch) -> [UInt8] {
                // The exporter's client-side work per batch, on thread CPU time.
                var start = timespec(), end = timespec()
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
                let payload = PostgresClient.encodeSpanRows(batch)
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
                encodingSeconds += Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
                return payload
            }
            while sequence * shape.spansPerRequest < spans {
                batch.append(contentsOf: try OTLPProtobufDecoder.decode(generator.request(stream: 9999, sequence: sequence)).batch)
                sequence += 1
                if batch.spanCount >= batchSize {
                    payloads.append(encode(batch))
                    batch = SpanBatch()
                }
            }
            if !batch.isEmpty { payloads.append(encode(batch)) }
            let total = sequence * shape.spansPerRequest
            note(String(format: "encoding (not timed below): %.0f rows/s on one core's CPU time", Double(total) / encodingSeconds))
            // The gateway creates the day's partition on demand; so does this.
            try PostgresClient(dsn: dsn).query("SELECT tracegate_ensure_partition(current_date)")
            let clock = ContinuousClock()
            let start = clock.now
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for c in 0..<connections {
                    let mine = stride(from: c, to: payloads.count, by: connections).map { payloads[$0] }
                    tasks.addTask {
                        let client = try PostgresClient(dsn: dsn)
                        for p in mine { try client.copySpanRows(p, table: table) }
                    }
                }
                try await tasks.waitForAll()
            }
            let elapsed = (clock.now - start).timeInterval
            note(String(format: "raw binary COPY: %d rows in %.2f s = %.0f rows/s (%d connections, %d rows per COPY)", total, elapsed, Double(total) / elapsed, connections, batchSize))
            emit(["scenario": "copy", "rows": total, "seconds": elapsed, "rows_per_s": Double(total) / elapsed, "connections": connections, "batch_size": batchSize])
        }
    }

    struct Footprint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start-up time and idle RSS of the gateway binary.")

        @Option(help: "The tracegate binary.") var binary: String
        @Option(help: "A configuration whose OTLP/HTTP endpoint is --port.") var config: String
        @Option(help: "The OTLP/HTTP port of that configuration.") var port: Int
        @Option(help: "Runs to take the median of.") var runs = 5
        @Option(help: "An OTLP/HTTP protobuf request sent --traffic-requests times after the last run's idle measurement.")
        var trafficFixture = "Tests/Fixtures/many_spans.binpb"
        @Option(help: "Requests of --traffic-fixture before the idle-after-traffic measurement (0: none).") var trafficRequests = 20
        @Option(help: "Seconds without requests before RSS is measured again after the traffic.") var quietSeconds = 12.0

        func run() async throws {
            var startups: [Double] = []
            var rss: [Int] = []
            var afterTraffic: (peak: Int, idle: Int)? = nil
            for run in 0..<runs {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: binary)
                process.arguments = ["run", "--config", config]
                process.standardError = FileHandle.nullDevice
                process.standardOutput = FileHandle.nullDevice
                let clock = ContinuousClock()
                let start = clock.now
                try process.run()
                defer { process.terminate(); process.waitUntilExit() }
                while !(await acceptsRequests(port: port)) {
                    guard process.isRunning, clock.now - start < .seconds(20) else { throw ValidationError("gateway did not start") }
                    try await Task.sleep(for: .milliseconds(1))
                }
                startups.append((clock.now - start).timeInterval * 1000)
                try await Task.sleep(for: .seconds(1))
                rss.append(residentKiB(pid: process.processIdentifier))
                // The last run also takes some traffic, then stays quiet: what
                // an idle gateway holds once it has served requests.
                if run == runs - 1 && trafficRequests > 0 {
                    let body = Array(try Data(contentsOf: URL(fileURLWithPath: trafficFixture)))
                    let connection = try BlockingHTTPConnection(host: "127.0.0.1", port: port, path: "/v1/traces", contentType: "application/x-protobuf")
                    for _ in 0..<trafficRequests { _ = try connection.post(body) }
                    let peak = residentKiB(pid: process.processIdentifier)
                    try await Task.sleep(for: .seconds(quietSeconds))
                    afterTraffic = (peak, residentKiB(pid: process.processIdentifier))
                }
            }
            startups.sort()
            rss.sort()
            let medianStart = startups[startups.count / 2]
            let medianRSS = Double(rss[rss.count / 2]) / 1024
            note(String(format: "start-up to first answered request: median %.1f ms (%d runs); idle RSS: median %.1f MiB", medianStart, runs, medianRSS))
            var result: [String: Any] = ["scenario": "footprint", "startup_ms": medianStart, "idle_rss_mib": medianRSS, "runs": runs]
            if let afterTraffic {
                note(String(format: "after %d requests: RSS %.1f MiB; %.0f s later: %.1f MiB", trafficRequests,
                            Double(afterTraffic.peak) / 1024, quietSeconds, Double(afterTraffic.idle) / 1024))
                result["traffic_requests"] = trafficRequests
                result["quiet_s"] = quietSeconds
                result["rss_after_traffic_mib"] = Double(afterTraffic.peak) / 1024
                result["idle_rss_after_traffic_mib"] = Double(afterTraffic.idle) / 1024
            }
            emit(result)
        }

        func acceptsRequests(port: Int) async -> Bool {
            guard let c = try? BlockingHTTPConnection(host: "127.0.0.1", port: port, path: "/v1/traces", contentType: "application/x-protobuf")
            else { return false }
            return (try? c.post([])) == 200
        }

        func residentKiB(pid: Int32) -> Int {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
            for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
                return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            }
            return 0
        }
    }
}

struct ConnectionResult: Sendable {
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    /// Open loop: how late each request left against its schedule.
    var lag = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    var statuses: [String: Int] = [:]
    var ackedSpans = 0
}

/// Sleeps the calling thread until `deadline` (at once when it has passed).
func sleep(until deadline: ContinuousClock.Instant, _ clock: ContinuousClock) {
    let left = deadline - clock.now
    guard left > .zero else { return }
    let (seconds, attoseconds) = left.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
