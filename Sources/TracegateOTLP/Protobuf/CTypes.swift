import COTLP

// Short names for the protoc-c types this module reads. Kept in one place so
// the mapping files read like the proto.
typealias CRequest = Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
typealias CResponse = Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
typealias CPartialSuccess = Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess
typealias CResourceSpans = Opentelemetry__Proto__Trace__V1__ResourceSpans
typealias CScopeSpans = Opentelemetry__Proto__Trace__V1__ScopeSpans
typealias CSpan = Opentelemetry__Proto__Trace__V1__Span
typealias CEvent = Opentelemetry__Proto__Trace__V1__Span__Event
typealias CLink = Opentelemetry__Proto__Trace__V1__Span__Link
typealias CStatus = Opentelemetry__Proto__Trace__V1__Status
typealias CResource = Opentelemetry__Proto__Resource__V1__Resource
typealias CScope = Opentelemetry__Proto__Common__V1__InstrumentationScope
typealias CKeyValue = Opentelemetry__Proto__Common__V1__KeyValue
typealias CAnyValue = Opentelemetry__Proto__Common__V1__AnyValue

/// Iterates a protoc-c repeated message field (`size_t n_x; T **x`).
@inline(__always)
func forEachElement<T>(_ count: Int, _ items: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ body: (UnsafeMutablePointer<T>) -> Void) {
    guard let items else { return }
    for i in 0..<count {
        if let item = items[i] { body(item) }
    }
}

/// A protoc-c string field: never NULL for proto3 strings, but be defensive.
@inline(__always)
func swiftString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer, pointer.pointee != 0 else { return "" }
    return String(cString: pointer)
}
