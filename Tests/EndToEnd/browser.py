"""A real browser for the web UI's tests: Debian's headless `chromium` driven
through `chromium-driver` (both installed by scripts/install-deps) with
selenium. The viewport is set exactly (a 1280×800 desktop, a 375-wide
phone) through the DevTools protocol, since a window size includes the
browser's own frame. A page that fails a check leaves a screenshot under
test-output/web-ui/ (gitignored)."""

from __future__ import annotations

import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from e2e_helpers import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "test-output" / "web-ui"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 20.0


def require_browser() -> None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not shutil.which(path):
            pytest.fail(f"{path} is missing: apt-get install {package} (scripts/install-deps does)", pytrace=False)


class Browser:
    """One headless Chromium; `open` loads a UI path, `page` names the page for
    the screenshot a failing block leaves."""

    def __init__(self, base_url: str):
        require_browser()
        self.base_url = base_url
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-extensions", "--no-first-run", "--window-size=1280,1000"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The Debian driver, named explicitly: selenium then never tries to
        # download one (this machine has no network but the package registries).
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.console: list[dict[str, Any]] = []
        self.viewport(1280, 800)

    def close(self) -> None:
        self.driver.quit()

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except (StaleElementReferenceException, WebDriverException) as e:
                last_error = e
            time.sleep(0.1)
        shown = self.visible_text()[:1500]
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} on {self.driver.current_url}"
                    f"{f' (last error: {last_error.msg})' if isinstance(last_error, WebDriverException) else ''}\n"
                    f"page text:\n{shown}", pytrace=False)

    def wait_css(self, css: str, count: int | None = None, timeout: float = WAIT) -> list[WebElement]:
        """Elements matching `css`: at least one, or exactly `count`."""
        def found() -> list[WebElement] | None:
            elements = self.find_all(css)
            if count is None:
                return elements or None
            return elements if len(elements) == count else None
        return self.wait_for(found, f"{css!r}" + (f" x{count}" if count is not None else ""), timeout)

    def visible_text(self) -> str:
        try:
            return self.find("body").text
        except WebDriverException:
            return ""

    def collect_console(self) -> list[dict[str, Any]]:
        entries = self.driver.get_log("browser")
        self.console.extend(entries)
        return entries

    def script_errors(self) -> list[str]:
        """Uncaught exceptions and CSP violations in the console so far.

        Failed loads (an API's deliberate 404) are the server's answer, not
        a fault of the page."""
        self.collect_console()
        return [e["message"] for e in self.console
                if e.get("level") == "SEVERE" and "Failed to load resource" not in e.get("message", "")]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        self.driver.save_screenshot(str(path))
        return path

    @contextmanager
    def page(self, name: str) -> Iterator[Browser]:
        """A block of checks on one page: when one fails, the page is saved
        as a screenshot and its path added to the failure."""
        try:
            yield self
        except BaseException as e:
            try:
                path = self.screenshot(name)
                note = f"screenshot of the page: {path}"
            except WebDriverException as shot_error:
                note = f"no screenshot: {shot_error.msg}"
            if isinstance(e, AssertionError):
                raise AssertionError(f"{e}\n{note}") from e
            if isinstance(e, pytest.fail.Exception):
                pytest.fail(f"{e}\n{note}", pytrace=False)
            raise
