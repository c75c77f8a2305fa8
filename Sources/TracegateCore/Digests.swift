import CCrypto

/// SHA-256 and HMAC-SHA256 from the system's libcrypto (OpenSSL), which
/// libcurl loads into the process anyway: attribute hashing, the digest of a
/// cut value in the PostgreSQL exporter, notification keys and signatures.
public enum Digests {
    /// The 32-byte SHA-256 of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { tg_sha256(input.baseAddress, input.count, $0.baseAddress) }
        }
        // SHA256() fails only when libcrypto cannot allocate a digest context.
        precondition(ok == 1, "libcrypto SHA256 failed")
        return out
    }

    /// The 32-byte HMAC-SHA256 of `message` under `key`.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { tg_hmac_sha256(k.baseAddress, k.count, m.baseAddress, m.count, $0.baseAddress) }
            }
        }
        // Fails only on allocation failure or a key over 2 GiB.
        precondition(ok == 1, "libcrypto HMAC-SHA256 failed")
        return out
    }

    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// FNV-1a of `text`'s UTF-8 bytes, 64-bit: a fast, stable
    /// non-cryptographic hash (hash-ring points).
    public static func fnv1a64(_ text: String) -> UInt64 {
        fnv1a(text, offset: 0xcbf2_9ce4_8422_2325, prime: 0x0000_0100_0000_01b3)
    }

    /// FNV-1a, 32-bit (sampling seeds from a salt).
    public static func fnv1a32(_ text: String) -> UInt32 {
        fnv1a(text, offset: 0x811c_9dc5, prime: 0x0100_0193)
    }

    private static func fnv1a<H: FixedWidthInteger & UnsignedInteger>(_ text: String, offset: H, prime: H) -> H {
        var h = offset
        for b in text.utf8 {
            h ^= H(b)
            h &*= prime
        }
        return h
    }
}
