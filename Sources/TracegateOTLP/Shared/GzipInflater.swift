import CZlib

/// Inflates a gzip (or zlib) body with zlib (request bodies in the receivers,
/// compressed answers in the `otlp` exporter), refusing to produce more than
/// `limit` bytes, so a small compressed bomb cannot exhaust memory.
public enum GzipInflater {
    public enum Failure: Error, Equatable {
        case tooLarge
        case corrupt(String)
    }

    /// zlib writes into this much at a time; what it produced is appended to
    /// the output with one copy, so nothing is zero-filled ahead of use and a
    /// bomb costs the time to inflate `limit` bytes, no more.
    static let chunkSize = 64 << 10

    public static func inflate(_ input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard tg_inflate_init_gzip(&stream) == Z_OK else { throw .corrupt("zlib could not start") }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(4096, input.count * 4)))
        let chunk = UnsafeMutableBufferPointer<Bytef>.allocate(capacity: chunkSize)
        defer { chunk.deallocate() }
        var status: Int32 = Z_OK
        var tooLarge = false
        input.withUnsafeBytes { raw in
            stream.next_in = UnsafeMutablePointer(mutating: raw.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(raw.count)
            while true {
                stream.next_out = chunk.baseAddress
                stream.avail_out = uInt(chunk.count)
                status = CZlib.inflate(&stream, Z_NO_FLUSH)
                let produced = chunk.count - Int(stream.avail_out)
                if output.count + produced > limit {
                    tooLarge = true
                    return
                }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<produced]))
                if status == Z_STREAM_END && stream.avail_in > 0 {
                    // A gzip body may hold several members (RFC 1952 §2.2);
                    // decode them all, as gunzip does. Anything else after the
                    // stream fails the next member's header check.
                    guard inflateReset(&stream) == Z_OK else { return }
                    continue
                }
                if status == Z_STREAM_END || (status != Z_OK && status != Z_BUF_ERROR) { return }
                // With room to write, no progress means the input ended
                // before the stream did.
                if status == Z_BUF_ERROR { return }
            }
        }
        if tooLarge { throw .tooLarge }
        switch status {
        case Z_STREAM_END:
            return output
        case Z_BUF_ERROR:
            throw .corrupt("gzip body is truncated")
        default:
            let reason = stream.msg.map { String(cString: $0) } ?? "code \(status)"
            throw .corrupt("gzip body is corrupt: \(reason)")
        }
    }
}
