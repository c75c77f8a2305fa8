import CZlib

/// Inflates a gzip (or zlib) body with zlib, refusing to produce more than
/// `limit` bytes, so a small compressed bomb cannot exhaust memory.
enum GzipInflater {
    enum Failure: Error, Equatable {
        case tooLarge
        case corrupt(String)
    }

    static func inflate(_ input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard tg_inflate_init_gzip(&stream) == Z_OK else { throw .corrupt("zlib could not start") }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: min(limit, max(4096, input.count * 4)))
        var produced = 0
        var status: Int32 = Z_OK
        input.withUnsafeBytes { raw in
            stream.next_in = UnsafeMutablePointer(mutating: raw.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(raw.count)
            while true {
                if produced == output.count {
                    if output.count >= limit {
                        status = Z_BUF_ERROR
                        return
                    }
                    output.append(contentsOf: repeatElement(0, count: min(output.count, limit - output.count)))
                }
                status = output.withUnsafeMutableBytes { out in
                    stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self) + produced
                    stream.avail_out = uInt(out.count - produced)
                    let r = CZlib.inflate(&stream, Z_NO_FLUSH)
                    produced = out.count - Int(stream.avail_out)
                    return r
                }
                if status == Z_STREAM_END && stream.avail_in > 0 {
                    // A gzip body may hold several members (RFC 1952 §2.2);
                    // decode them all, as gunzip does. Anything else after the
                    // stream fails the next member's header check.
                    guard inflateReset(&stream) == Z_OK else { return }
                    continue
                }
                if status == Z_STREAM_END || (status != Z_OK && status != Z_BUF_ERROR) { return }
                if status == Z_BUF_ERROR && stream.avail_in == 0 { return }  // truncated input
            }
        }
        switch status {
        case Z_STREAM_END:
            output.removeSubrange(produced...)
            return output
        case Z_BUF_ERROR where produced >= limit:
            throw .tooLarge
        case Z_BUF_ERROR:
            throw .corrupt("gzip body is truncated")
        default:
            let reason = stream.msg.map { String(cString: $0) } ?? "code \(status)"
            throw .corrupt("gzip body is corrupt: \(reason)")
        }
    }
}
