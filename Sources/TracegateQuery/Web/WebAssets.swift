// Placeholder until scripts/gen-web-assets writes this file from web/.

/// The web UI's files, compiled into the binary.
enum WebAssets {
    struct Asset: Sendable {
        let contentType: String
        let body: StaticString
    }

    /// The page every UI path (`/search`, `/trace/…`, `/dependencies`) serves.
    static let index = Asset(contentType: "text/html; charset=utf-8", body: "<!doctype html><title>Tracegate</title>")

    /// A file under `/static/`, by its name there (`app.js`).
    static func asset(named name: String) -> Asset? { nil }
}
