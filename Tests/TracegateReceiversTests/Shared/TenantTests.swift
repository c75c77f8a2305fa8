import Testing
import TracegateCore

@testable import TracegateReceivers

@Suite struct TenantTests {
    static func read(_ yaml: String, env: [String: String] = [:]) -> (OTLPReceiverConfig, [String]) {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: env)
        let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics)!
        let config = OTLPReceiverConfig.read(root.map("otlp"))
        return (config, diagnostics.problems.map(\.description))
    }

    @Test func tokensMappedToTenantsNameTheTenantOfEachRequest() throws {
        let (config, problems) = Self.read(
            """
            otlp:
              protocols: { http: {}, grpc: {} }
              auth:
                bearer_tokens:
                  acme: ${env:ACME}
                  globex: [g-one, g-two]
            """, env: ["ACME": "a-secret"])
        #expect(problems == [])
        let auth = try #require(config.http?.auth)
        #expect(config.grpc?.auth == auth)
        #expect(auth.tenantAttribute == "tenant")
        #expect(auth.verdict(header: "Bearer a-secret") == .allowed(tenant: "acme"))
        #expect(auth.verdict(header: "Bearer g-two") == .allowed(tenant: "globex"))
        #expect(auth.verdict(header: "Bearer g-three") == .denied)
        #expect(auth.verdict(header: nil) == .denied)
        // A list of tokens names no tenant.
        #expect(BearerAuth(tokens: ["x"]).verdict(header: "Bearer x") == .allowed(tenant: nil))
    }

    @Test func reportsEveryTenantProblemWithItsLine() {
        let (_, problems) = Self.read(
            """
            otlp:
              protocols: { http: {} }
              metadata_keys: [x-team, "bad header", authorization, X-Team]
              auth:
                bearer_tokens:
                  acme: ""
                  globex: []
                tenant_attribute: ""
                bearer_tokens_file: /etc/hostname
            """)
        #expect(
            problems.sorted() == [
                "gw.yaml:3: otlp.metadata_keys[1]: 'bad header' is not a header name",
                "gw.yaml:3: otlp.metadata_keys[2]: authorization cannot be copied into attributes",
                "gw.yaml:3: otlp.metadata_keys[3]: x-team is listed twice",
                "gw.yaml:3: otlp.metadata_keys: takes effect only with include_metadata: true",
                "gw.yaml:6: otlp.auth.bearer_tokens.acme: token is empty (is its environment variable set?)",
                "gw.yaml:7: otlp.auth.bearer_tokens.globex: must list at least one token",
                "gw.yaml:9: otlp.auth.bearer_tokens_file: cannot be combined with bearer_tokens naming tenants: its tokens would have none",
                "gw.yaml:8: otlp.auth.tenant_attribute: must not be empty",
            ].sorted())
    }

    @Test func theStampOverwritesWhatTheClientSentAndTheTenantWinsOverHeaders() {
        let metadata = RequestMetadataConfig(include: true, keys: ["x-team", "tenant"])
        let headers = ["x-team": "payments", "tenant": "forged-by-header"]
        let stamp = metadata.stamp(header: { headers[$0] }, clientAddress: "10.0.0.7", tenant: ("tenant", "acme"))
        var batch = SpanBatch(resourceSpans: [
            ResourceSpans(resource: Resource(attributes: [
                Attribute("service.name", .string("checkout")), Attribute("tenant", .string("forged")),
                Attribute("client.address", .string("1.2.3.4")),
            ]))
        ])
        stamp.apply(to: &batch)
        #expect(
            batch.resourceSpans[0].resource.attributes == [
                Attribute("service.name", .string("checkout")), Attribute("client.address", .string("10.0.0.7")),
                Attribute("x-team", .string("payments")), Attribute("tenant", .string("acme")),
            ])
    }

    @Test func withoutIncludeMetadataOnlyTheTenantIsWritten() {
        let stamp = RequestMetadataConfig().stamp(header: { _ in "x" }, clientAddress: "10.0.0.7", tenant: nil)
        #expect(stamp.isEmpty)
        let tenantOnly = RequestMetadataConfig().stamp(header: { _ in "x" }, clientAddress: "10.0.0.7", tenant: ("org", "acme"))
        #expect(tenantOnly.attributes == [Attribute("org", .string("acme"))])
    }
}
