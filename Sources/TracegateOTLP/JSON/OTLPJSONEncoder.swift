/// Writes the OTLP/HTTP answers in the proto3 JSON mapping, for requests that
/// came as `application/json`: fields with default values are left out, and
/// int64 values are strings.
public enum OTLPJSONEncoder {
    /// `ExportTraceServiceResponse`: `{}` on full success, otherwise
    /// `{"partialSuccess":{"rejectedSpans":"4","errorMessage":"…"}}`.
    public static func encodeResponse(rejectedSpans: Int, errorMessage: String) -> [UInt8] {
        guard rejectedSpans != 0 || !errorMessage.isEmpty else { return Array("{}".utf8) }
        var out = Array(#"{"partialSuccess":{"#.utf8)
        var separator = false
        if rejectedSpans != 0 {
            out += #""rejectedSpans":""#.utf8
            out += String(rejectedSpans).utf8
            out.append(UInt8(ascii: "\""))
            separator = true
        }
        if !errorMessage.isEmpty {
            if separator { out.append(UInt8(ascii: ",")) }
            out += #""errorMessage":"#.utf8
            appendString(errorMessage, to: &out)
        }
        out += "}}".utf8
        return out
    }

    /// `google.rpc.Status`: `{"code":3,"message":"…"}` (no `details`).
    public static func encodeStatus(_ status: RPCStatus) -> [UInt8] {
        var out = Array(#"{"code":"#.utf8)
        out += String(status.code.rawValue).utf8
        if !status.message.isEmpty {
            out += #","message":"#.utf8
            appendString(status.message, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string: quotes, backslashes and control characters escaped;
    /// everything else as UTF-8.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += #"\""#.utf8
            case UInt8(ascii: "\\"): out += #"\\"#.utf8
            case 0x0A: out += #"\n"#.utf8
            case 0x0D: out += #"\r"#.utf8
            case 0x09: out += #"\t"#.utf8
            case 0x08: out += #"\b"#.utf8
            case 0x0C: out += #"\f"#.utf8
            case 0..<0x20:
                out += #"\u00"#.utf8
                out.append(hexDigitASCII(byte >> 4))
                out.append(hexDigitASCII(byte & 0xF))
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func hexDigitASCII(_ v: UInt8) -> UInt8 {
        v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10
    }
}
