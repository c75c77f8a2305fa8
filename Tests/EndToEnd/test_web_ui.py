"""The web UI in a real browser (headless Chromium through selenium) against
the real gateway with the `query` extension over a real PostgreSQL, with
traces sent by the OpenTelemetry Python SDK: a `frontend` service calling a
`checkout` service over W3C trace context.

One gateway and one browser serve the whole module; the traces are written
once. A page that fails a check leaves a screenshot in test-output/web-ui/.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from browser import Browser
from e2e_helpers import (
    GatewayLauncher,
    fresh_database,
    gateway_config,
    make_request,
    make_spans,
    new_trace_id,
    wait_until,
)

HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
MS = 1_000_000  # ns

# Trace A: frontend GET /cart → POST /checkout (client) → checkout POST
# /checkout → SELECT carts, charge card (error), the hostile name; frontend
# render. Trace B: the same without charge card and the hostile span, and
# with two SELECT carts.
SPANS_A = 7
SPANS_B = 6
# More than the waterfall puts in the document at once (ALL_ROWS in trace.js).
SPANS_BIG = 2000


@dataclass
class Shop:
    gateway_url: str
    query_url: str
    trace_a: str
    trace_b: str
    trace_big: str


def send_traces(traces_url: str) -> tuple[str, str]:
    """Two checkout traces through the SDK; returns their trace ids (hex)."""
    providers = {}
    for service in ("frontend", "checkout"):
        provider = TracerProvider(resource=Resource.create({"service.name": service, "host.name": f"{service}-1"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=traces_url, timeout=10)))
        providers[service] = provider
    frontend = providers["frontend"].get_tracer("shop.frontend", "1.2.0")
    checkout = providers["checkout"].get_tracer("shop.checkout", "0.9.1")
    propagator = TraceContextTextMapPropagator()
    base = time.time_ns() - 120_000 * MS

    def one(t0: int, failing: bool, link_to: SpanContext | None = None) -> tuple[str, SpanContext]:
        at = lambda ms: t0 + ms * MS  # noqa: E731
        root = frontend.start_span("GET /cart", kind=SpanKind.SERVER, start_time=at(0),
                                   attributes={"http.route": "/cart", "http.request.method": "GET",
                                               "http.response.status_code": 200})
        client = frontend.start_span("POST /checkout", context=set_span_in_context(root), kind=SpanKind.CLIENT,
                                     start_time=at(5), attributes={"server.address": "checkout"})
        carrier: dict[str, str] = {}
        propagator.inject(carrier, context=set_span_in_context(client))
        server = checkout.start_span("POST /checkout", context=propagator.extract(carrier), kind=SpanKind.SERVER,
                                     start_time=at(7), attributes={"http.route": "/checkout"})
        inside = set_span_in_context(server)
        reads = [(9, 29)] if failing else [(9, 29), (30, 50)]
        for start, end in reads:
            db = checkout.start_span("SELECT carts", context=inside, kind=SpanKind.CLIENT, start_time=at(start),
                                     attributes={"db.system": "postgresql", "db.statement": "SELECT * FROM carts WHERE id = $1"})
            db.end(end_time=at(end))
        if failing:
            charge = checkout.start_span("charge card", context=inside, start_time=at(30),
                                         attributes={"payment.provider": "acme"})
            charge.add_event("retry", attributes={"attempt": 2}, timestamp=at(40))
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
            charge.end(end_time=at(80))
            hostile = checkout.start_span(HOSTILE, context=inside, start_time=at(81),
                                          attributes={HOSTILE: HOSTILE})
            hostile.end(end_time=at(85))
        server.end(end_time=at(92))
        client.end(end_time=at(95))
        links = [Link(link_to, {"link.reason": "same cart"})] if link_to else []
        render = frontend.start_span("render", context=set_span_in_context(root), start_time=at(100), links=links)
        render.end(end_time=at(115))
        root.end(end_time=at(120 if failing else 100))
        return format(root.get_span_context().trace_id, "032x"), root.get_span_context()

    trace_a, root_a = one(base, failing=True)
    # B's render links to A's root: a link to another trace, with an attribute.
    trace_b, _ = one(base + 10_000 * MS, failing=False, link_to=root_a)
    for provider in providers.values():
        provider.force_flush()
        provider.shutdown()
    return trace_a, trace_b


def api(shop_or_url: Shop | str, path: str) -> requests.Response:
    base = shop_or_url.query_url if isinstance(shop_or_url, Shop) else shop_or_url
    return requests.get(base + path, timeout=10)


@pytest.fixture(scope="module")
def shop(tracegate_bin: str, pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with fresh_database(pg_dsn) as db:
        launcher = GatewayLauncher(tracegate_bin, tmp_path_factory.mktemp("web-ui"))
        try:
            config: dict[str, Any] = gateway_config(db.dsn)
            config["extensions"] = {"query": {"endpoint": "127.0.0.1:0"}}
            config["service"]["extensions"] = ["query"]
            gw = launcher.start(config)
            query_url = gw.query_url

            def answers() -> bool:
                try:
                    return api(query_url, "/api/services").status_code == 200
                except requests.ConnectionError:
                    return False
            wait_until(answers, 20, f"the query extension at {query_url}\n{gw.log_tail()}", interval=0.2)

            trace_a, trace_b = send_traces(gw.traces_url)
            big_id = new_trace_id()
            big = make_request(make_spans(SPANS_BIG, trace_id=big_id, name="big", start_ns=time.time_ns() - 60_000 * MS),
                               service_name="batch")
            assert gw.post(big.SerializeToString()).status_code == 200

            def stored(trace_id: str, spans: int) -> bool:
                r = api(query_url, f"/api/traces/{trace_id}")
                return r.status_code == 200 and len(r.json()["data"][0]["spans"]) == spans
            wait_until(lambda: stored(trace_a, SPANS_A) and stored(trace_b, SPANS_B) and stored(big_id.hex(), SPANS_BIG),
                       30, "the traces served by /api/traces/{id}", interval=0.2)
            yield Shop(gw.url, query_url, trace_a, trace_b, big_id.hex())
        finally:
            failures = launcher.stop_all()
        if failures:
            pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture(scope="module")
def browser(shop: Shop) -> Iterator[Browser]:
    b = Browser(shop.query_url)
    yield b
    b.close()


@pytest.fixture
def desktop(browser: Browser) -> Browser:
    browser.viewport(1280, 800)
    return browser


def assert_no_script_ran(b: Browser) -> None:
    assert b.js("return typeof window.__xss") == "undefined", "a span name ran as script"
    assert b.js('return document.querySelectorAll("img[src=x], script:not([src])").length') == 0, \
        "a span name became markup"


# ---------------------------------------------------------------------- search


def test_search_finds_both_traces_in_list_and_plot(shop: Shop, desktop: Browser) -> None:
    b = desktop
    with b.page("search-form"):
        b.open("/search")
        service = b.wait_for(lambda: (s := Select(b.find("#search-service"))) and
                             "frontend" in [o.text for o in s.options] and s, "frontend among the services")
        service.select_by_visible_text("frontend")
        b.wait_for(lambda: "GET /cart" in [o.text for o in Select(b.find("#search-operation")).options],
                   "the operations of frontend")
        Select(b.find("#search-lookback")).select_by_value("1h")
        b.find("#search-submit").click()
        items = b.wait_css("#trace-list li.trace-item", count=2)
        assert "service=frontend" in b.driver.current_url and "lookback=1h" in b.driver.current_url
        ids = {li.get_attribute("data-trace-id") for li in items}
        assert ids == {shop.trace_a, shop.trace_b}
        a = b.find(f'#trace-list li[data-trace-id="{shop.trace_a}"]')
        assert a.find_element("css selector", ".trace-name").text == "frontend: GET /cart"
        assert "7 spans" in a.text and "1 error" in a.text and "120ms" in a.text
        chips = {c.find_element("css selector", ".chip-name").text: c.find_element("css selector", ".chip-count").text
                 for c in a.find_elements("css selector", ".chip")}
        assert chips == {"checkout": "4", "frontend": "3"}
        assert len(b.find_all(".scatter a.point")) == 2
        assert_no_script_ran(b)

    with b.page("search-errors-only"):
        # As in Jaeger, tags match spans of the chosen service: the error is checkout's.
        Select(b.find("#search-service")).select_by_visible_text("checkout")
        b.find("#search-errors").click()
        b.find("#search-submit").click()
        b.wait_for(lambda: "error" in b.driver.current_url and len(b.find_all("#trace-list li.trace-item")) == 1,
                   "one trace with errors")
        assert b.find("#trace-list li.trace-item").get_attribute("data-trace-id") == shop.trace_a

    with b.page("search-back"):
        b.driver.back()
        b.wait_css("#trace-list li.trace-item", count=2)
        assert not b.find("#search-errors").is_selected()

    with b.page("search-scatter-click"):
        b.find(f'.scatter a.point[href="/trace/{shop.trace_b}"] circle').click()
        b.wait_for(lambda: b.driver.current_url.endswith(f"/trace/{shop.trace_b}"), "the trace page of B")
        b.wait_css(".wf-row", count=SPANS_B)


def test_search_by_tag_in_logfmt(shop: Shop, desktop: Browser) -> None:
    b = desktop
    with b.page("search-tags"):
        b.open("/search")
        b.wait_for(lambda: "checkout" in [o.text for o in Select(b.find("#search-service")).options], "the services")
        Select(b.find("#search-service")).select_by_visible_text("checkout")
        b.find("#search-tags").send_keys("payment.provider=acme")
        b.find("#search-submit").click()
        b.wait_for(lambda: len(b.find_all("#trace-list li.trace-item")) == 1, "the one trace with payment.provider=acme")
        assert b.find("#trace-list li.trace-item").get_attribute("data-trace-id") == shop.trace_a
        assert "payment.provider" in requests.utils.unquote(b.driver.current_url)

    with b.page("search-bad-duration"):
        b.find("#search-min").send_keys("fast")
        b.find("#search-submit").click()
        assert "not a duration" in b.wait_css("#search-form-error")[0].text


# ----------------------------------------------------------------------- trace


def test_trace_page_shows_every_span_and_details(shop: Shop, desktop: Browser) -> None:
    b = desktop
    with b.page("trace-a"):
        b.open(f"/trace/{shop.trace_a}")
        # What bench/query_bench.py waits for: every row drawn.
        b.wait_css('body[data-ready="trace"]')
        rows = b.wait_css(".wf-row", count=SPANS_A)
        assert b.find("#trace-name").text == "frontend: GET /cart"
        assert b.find("#trace-span-count").text == str(SPANS_A)
        names = [r.find_element("css selector", ".op").get_attribute("textContent") for r in rows]
        assert names[0] == "GET /cart"
        assert sorted(names) == sorted(["GET /cart", "POST /checkout", "POST /checkout", "SELECT carts",
                                        "charge card", HOSTILE, "render"])
        depths = [int(r.get_attribute("data-depth")) for r in rows]
        assert depths == [0, 1, 2, 3, 3, 3, 1]
        errors = b.find_all(".wf-row.error")
        assert len(errors) == 1 and errors[0].find_element("css selector", ".op").text == "charge card"
        assert b.find_all(".wf-row .cp"), "no critical path drawn"
        assert b.find("#trace-json").get_attribute("href").endswith(f"/api/traces/{shop.trace_a}")
        b.wait_for(lambda: b.find_all("#state-badge"), "the conclusion state")
        assert b.find("#state-badge").text in ("Open", "Concluded")
        assert b.find("#complete-badge").text == "Complete"

    with b.page("trace-a-enter-on-root"):
        root_button = rows[0].find_element("css selector", ".span-btn")
        root_button.send_keys(Keys.ENTER)
        detail = b.wait_css("#span-detail:not([hidden]) #detail-attributes")[0]
        assert b.find("#detail-title").text == "GET /cart"
        cells = {tr.find_element("css selector", "th").text.replace("\n", ""): tr.find_element("css selector", "td").text
                 for tr in detail.find_elements("css selector", "tr")}
        assert cells.get("http.route") == "/cart"
        assert cells.get("http.response.status_code") == "200"
        resource = b.find("#detail-resource").text
        assert "frontend" in resource and "host.name" in resource
        facts = b.find("#detail-facts").text
        assert "server" in facts  # span kind
        # Self time: 120ms less POST /checkout (5–95) and render (100–115).
        assert b.find("#detail-self-time").text == "15ms"

    with b.page("trace-a-arrow-and-click"):
        root_button.send_keys(Keys.ARROW_DOWN)
        assert b.js("return document.activeElement.closest('.wf-row').dataset.depth") == "1"
        charge = next(r for r in b.find_all(".wf-row") if r.find_element("css selector", ".op").text == "charge card")
        charge.find_element("css selector", ".span-btn").click()
        b.wait_for(lambda: b.find("#detail-title").text == "charge card", "the details of charge card")
        facts = b.find("#detail-facts").text
        assert "ERROR" in facts and "card declined" in facts
        events = b.find("#detail-events").text
        assert "retry" in events and "attempt" in events and "+10ms" in events
        assert "shop.checkout" in facts  # scope
        assert f"span={charge.get_attribute('data-span-id')}" in b.driver.current_url

    with b.page("trace-a-collapse"):
        toggle = b.find_all(".wf-row")[0].find_element("css selector", "button.toggle")
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "false"
        assert len([r for r in b.find_all(".wf-row") if r.is_displayed()]) == 1
        toggle.send_keys(Keys.SPACE)
        assert len([r for r in b.find_all(".wf-row") if r.is_displayed()]) == SPANS_A
        assert not b.script_errors(), b.script_errors()


def test_big_trace_draws_the_rows_around_the_viewport(shop: Shop, desktop: Browser) -> None:
    b = desktop

    def focused_op() -> str | None:
        return b.js("const r = document.activeElement.closest('.wf-row'); return r && r.querySelector('.op').textContent")

    with b.page("big-trace"):
        b.open(f"/trace/{shop.trace_big}")
        b.wait_css('body[data-ready="trace"]')
        assert b.find("#trace-span-count").text == str(SPANS_BIG)
        drawn = len(b.find_all(".wf-row"))
        assert 0 < drawn < 200, f"{drawn} rows in the document"
        # The rows left out still take their room: the page scrolls as far.
        height = b.js("return document.getElementById('waterfall-rows').getBoundingClientRect().height")
        assert abs(height - SPANS_BIG * 30) <= 30, height
        b.find(".wf-row .span-btn").send_keys(Keys.END)
        b.wait_for(lambda: focused_op() == f"big-{SPANS_BIG - 1}", "the last row focused")
        b.driver.switch_to.active_element.send_keys(Keys.ENTER)
        b.wait_for(lambda: b.find("#detail-title").text == f"big-{SPANS_BIG - 1}", "the last span's details")
        b.driver.switch_to.active_element.send_keys(Keys.HOME)
        b.wait_for(lambda: focused_op() == "big-0", "the first row focused again")
        b.js("window.scrollTo(0, document.body.scrollHeight / 2)")
        b.wait_for(lambda: any(r.find_element("css selector", ".op").text == f"big-{SPANS_BIG // 2}"
                               for r in b.find_all(".wf-row") if r.is_displayed()), "the middle rows after scrolling")
        b.js("window.scrollTo(0, 0)")
        b.wait_css(".wf-row button.toggle")[0].click()
        b.wait_css(".wf-row", count=1)
        assert not b.script_errors(), b.script_errors()


def test_links_show_the_other_trace_and_link_attributes(shop: Shop, desktop: Browser) -> None:
    b = desktop
    with b.page("links"):
        b.open(f"/trace/{shop.trace_b}")
        render = next(r for r in b.wait_css(".wf-row", count=SPANS_B)
                      if r.find_element("css selector", ".op").text == "render")
        render.find_element("css selector", ".span-btn").click()
        links = b.wait_css("#detail-links li")
        assert len(links) == 1 and shop.trace_a in links[0].text and "FOLLOWS_FROM" in links[0].text
        # The link's attributes are not in Jaeger's model: they come from /api/v3.
        b.wait_for(lambda: "same cart" in b.find("#detail-links").text, "the link's attributes")
        assert "link.reason" in b.find("#detail-links").text
        links[0].find_element("css selector", "a").click()
        b.wait_for(lambda: f"/trace/{shop.trace_a}" in b.driver.current_url, "the linked trace")
        b.wait_css(".wf-row", count=SPANS_A)
        # The linked span is selected there.
        assert b.find("#detail-title").text == "GET /cart"


def test_hostile_span_name_is_text(shop: Shop, desktop: Browser) -> None:
    b = desktop
    for path, name in ((f"/trace/{shop.trace_a}", "hostile-trace"),
                       (f"/trace/{shop.trace_a}...{shop.trace_b}", "hostile-compare")):
        with b.page(name):
            b.open(path)
            b.wait_for(lambda: HOSTILE in b.visible_text(), "the hostile span name shown as text")
            assert_no_script_ran(b)
    with b.page("hostile-detail"):
        b.open(f"/trace/{shop.trace_a}")
        row = b.wait_for(lambda: [r for r in b.find_all(".wf-row")
                                  if r.find_element("css selector", ".op").get_attribute("textContent") == HOSTILE],
                         "the hostile row")[0]
        row.find_element("css selector", ".span-btn").send_keys(Keys.ENTER)
        b.wait_for(lambda: b.find("#detail-title").text == HOSTILE, "the hostile span's details")
        assert HOSTILE in b.find("#detail-attributes").text
        assert_no_script_ran(b)
        assert not b.script_errors(), b.script_errors()


def test_trace_id_box_and_api_errors(shop: Shop, desktop: Browser) -> None:
    b = desktop
    with b.page("id-box-bad"):
        b.open("/dependencies")
        box = b.wait_css("#trace-id-input")[0]
        box.send_keys("not-a-trace", Keys.ENTER)
        assert "32 hex digits" in b.wait_css("#trace-id-error")[0].text
        assert "/dependencies" in b.driver.current_url
    with b.page("id-box-short"):
        box.clear()
        box.send_keys(shop.trace_a[16:].upper(), Keys.ENTER)
        b.wait_for(lambda: b.driver.current_url.endswith(f"/trace/{'0' * 16}{shop.trace_a[16:]}"),
                   "the left-padded 64-bit id")
        # That trace does not exist: the API's 404 is shown, not a blank page.
        assert "not found" in b.wait_css("main .message.error")[0].text.lower()
    with b.page("id-box-full"):
        box = b.find("#trace-id-input")
        box.send_keys(shop.trace_b, Keys.ENTER)
        b.wait_css(".wf-row", count=SPANS_B)
    with b.page("malformed-trace-path"):
        b.open("/trace/xyz")
        assert "not a trace id" in b.wait_css("main .message.error")[0].text


# ------------------------------------------------- critical path and self time


def hand_trace(spans: list[tuple[str, str | None, int, int]]) -> dict[str, Any]:
    """A Jaeger trace of (span id, parent id, start µs, end µs), one service."""
    return {"traceID": "ab" * 16, "processes": {"p1": {"serviceName": "svc", "tags": []}}, "warnings": None,
            "spans": [{"traceID": "ab" * 16, "spanID": sid, "operationName": sid, "processID": "p1",
                       "references": [{"refType": "CHILD_OF", "traceID": "ab" * 16, "spanID": parent}] if parent else [],
                       "startTime": start, "duration": end - start, "tags": [], "logs": []}
                      for sid, parent, start, end in spans]}


CRITICAL_PATH_CASES = [
    # Sequential children: the gaps between them are the parent's own.
    ([("r", None, 0, 100), ("a", "r", 10, 40), ("b", "r", 50, 90)],
     {"r": [[0, 10], [40, 50], [90, 100]], "a": [[10, 40]], "b": [[50, 90]]}, {"r": 30, "a": 30, "b": 40}),
    # Overlapping children: the last to finish wins; the one it hides is off the path.
    ([("r", None, 0, 100), ("a", "r", 10, 80), ("b", "r", 20, 60)],
     {"r": [[0, 10], [80, 100]], "a": [[10, 80]]}, {"r": 30, "a": 70, "b": 40}),
    # A child that outlives its parent counts only while the parent runs.
    ([("r", None, 0, 100), ("a", "r", 50, 150)],
     {"r": [[0, 50]], "a": [[50, 100]]}, {"r": 50, "a": 100}),
    # Walking back from b's start (30), a (which ends at 60) is not taken:
    # only a child that ended by then is, as in Jaeger.
    ([("r", None, 0, 100), ("a", "r", 0, 60), ("c", "a", 10, 55), ("b", "r", 30, 70), ("d", "r", 90, 120)],
     {"r": [[0, 30], [70, 90]], "b": [[30, 70]], "d": [[90, 100]]},
     {"r": 20, "a": 15, "c": 45, "b": 40, "d": 30}),
    # Zero-length children and equal ends end the walk (a tie goes to the
    # first in display order).
    ([("r", None, 0, 10), ("a", "r", 5, 5), ("b", "r", 5, 5), ("e", "r", 2, 10), ("c", "r", 2, 10)],
     {"r": [[0, 2]], "c": [[2, 10]]}, {"r": 2, "a": 0, "b": 0, "c": 8, "e": 8}),
]


@pytest.mark.parametrize("spans,path,self_times", CRITICAL_PATH_CASES)
def test_critical_path_and_self_time(shop: Shop, desktop: Browser, spans, path, self_times) -> None:
    """model.js as the server serves it, run in the browser on hand-built traces."""
    b = desktop
    if not b.driver.current_url.startswith(shop.query_url):
        b.open("/dependencies")
    result = b.driver.execute_async_script("""
        const [trace, done] = arguments;
        import('/static/model.js').then((m) => {
          const model = m.buildTrace(trace);
          const path = {};
          for (const [node, segs] of m.criticalPath(model)) path[node.id] = segs.map((s) => [s.start, s.end]);
          const self = {};
          for (const node of model.nodes) self[node.id] = m.selfTime(node);
          done({path, self});
        }, (e) => done({error: String(e)}));""", hand_trace(spans))
    assert "error" not in result, result
    assert result["path"] == path
    assert result["self"] == self_times


# --------------------------------------------------------------------- compare


def test_compare_counts_and_differences(shop: Shop, desktop: Browser) -> None:
    b = desktop

    def row(service: str, operation: str) -> dict[str, str]:
        tr = next(tr for tr in b.find_all("#compare-table tbody tr")
                  if tr.get_attribute("data-service") == service and tr.get_attribute("data-operation") == operation)
        cells = {cls: tr.find_element("css selector", f"td.{cls}").text
                 for cls in ("count-a", "count-b", "delta-count", "total-a", "total-b", "mean-a", "mean-b", "delta-total")}
        cells["class"] = tr.get_attribute("class")
        return cells

    for path, name in ((f"/trace/{shop.trace_a}...{shop.trace_b}", "compare-jaeger-path"),
                       (f"/compare?a={shop.trace_a}&b={shop.trace_b}", "compare-query")):
        with b.page(name):
            b.open(path)
            b.wait_css("#compare-table tbody tr", count=7)
            carts = row("checkout", "SELECT carts")
            assert (carts["count-a"], carts["count-b"], carts["delta-count"]) == ("1", "2", "+1")
            assert (carts["total-a"], carts["total-b"], carts["mean-b"]) == ("20ms", "40ms", "20ms")
            assert carts["delta-total"] == "+20ms (+100%)"
            charge = row("checkout", "charge card")
            assert (charge["count-a"], charge["count-b"], charge["class"]) == ("1", "0", "only-a")
            assert row("checkout", HOSTILE)["class"] == "only-a"
            root = row("frontend", "GET /cart")
            assert (root["count-a"], root["count-b"], root["delta-total"]) == ("1", "1", "−20ms (−17%)")
            assert "7 span names: 2 only in A, 0 only in B" in b.find("#compare-summary").text
            assert_no_script_ran(b)

    with b.page("compare-from-search"):
        b.open("/search?service=checkout&lookback=1h")
        for box in b.wait_css("#trace-list input.pick", count=2):
            box.click()
        b.find("#compare-selected").click()
        b.wait_css("#compare-table tbody tr", count=7)
        assert "..." in b.driver.current_url


# ---------------------------------------------------------------- dependencies


def test_dependencies_edge_frontend_to_checkout(shop: Shop, desktop: Browser) -> None:
    b = desktop
    with b.page("dependencies"):
        b.open("/dependencies?lookback=1h")
        b.wait_css('body[data-ready="dependencies"]')
        tr = b.wait_css('#deps-table tr[data-parent="frontend"][data-child="checkout"]')[0]
        assert tr.find_element("css selector", ".calls").text == "2"
        assert tr.find_element("css selector", ".errors").text == "0"
        assert b.find_all('#deps-svg path.edge[data-parent="frontend"][data-child="checkout"]')
        assert {g.get_attribute("data-service") for g in b.find_all("#deps-svg g.node")} >= {"frontend", "checkout"}
        assert not b.script_errors(), b.script_errors()


# ------------------------------------------------------------------ phone width


def test_phone_width_has_no_horizontal_overflow(shop: Shop, browser: Browser) -> None:
    b = browser
    b.viewport(375, 800, mobile=True)
    try:
        for path, name, ready in ((f"/trace/{shop.trace_a}", "phone-trace", ".wf-row"),
                                  ("/search?service=frontend&lookback=1h", "phone-search", "#trace-list li"),
                                  (f"/trace/{shop.trace_a}...{shop.trace_b}", "phone-compare", "#compare-table"),
                                  ("/dependencies?lookback=1h", "phone-dependencies", "#deps-table")):
            with b.page(name):
                b.open(path)
                b.wait_css(ready)
                if name == "phone-trace":
                    b.find(".wf-row .span-btn").click()
                    b.wait_css("#span-detail:not([hidden])")
                widths = b.js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
                              " document.body.scrollWidth]")
                assert widths[0] <= widths[1] and widths[2] <= widths[1], \
                    f"{path}: the page is {widths[0]}px wide in a {widths[1]}px viewport"
    finally:
        b.viewport(1280, 800)


# ------------------------------------------------------------------ bearer auth


def test_bearer_token_is_asked_for_and_sent(db, gateway, desktop: Browser) -> None:
    """With `auth` on the extension the page loads, the API answers 401, and
    the page asks for the token, then sends it with every API call."""
    config: dict[str, Any] = gateway_config(db.dsn)
    config["extensions"] = {"query": {"endpoint": "127.0.0.1:0", "auth": {"bearer_tokens": ["s3cret"]}}}
    config["service"]["extensions"] = ["query"]
    gw = gateway.start(config)
    b = desktop
    with b.page("token-asked"):
        b.driver.get(f"{gw.query_url}/search")
        b.wait_css("#token-form")
        assert "needs a bearer token" in b.find("#token-form").text
        b.find("#token-input").send_keys("wrong", Keys.ENTER)
        def refused() -> bool:
            forms = b.find_all("#token-form")
            return bool(forms) and "refused this token" in forms[0].text
        b.wait_for(refused, "the token to be refused")
    with b.page("token-accepted"):
        b.find("#token-input").send_keys("s3cret", Keys.ENTER)
        # An empty database: the services answer (200) and the page says so.
        b.wait_for(lambda: "No services yet" in b.visible_text(), "the services with the token")
        assert not b.find_all("#token-form")
