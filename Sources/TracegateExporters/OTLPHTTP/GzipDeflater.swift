import CZlib

/// Compresses a request body as gzip (`Content-Encoding: gzip`) with zlib.
enum GzipDeflater {
    static func deflate(_ input: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard tg_deflate_init_gzip(&stream) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 32
        var output = [UInt8](repeating: 0, count: bound)
        var status: Int32 = Z_OK
        var produced = 0
        input.withUnsafeBytes { raw in
            stream.next_in = UnsafeMutablePointer(mutating: raw.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(raw.count)
            output.withUnsafeMutableBytes { out in
                stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                status = CZlib.deflate(&stream, Z_FINISH)
                produced = out.count - Int(stream.avail_out)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        output.removeSubrange(produced...)
        return output
    }
}
