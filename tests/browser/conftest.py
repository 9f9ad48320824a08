"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) on the demo page.

With env CI set, a missing browser or Playwright FAILS the tests; locally they skip.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser.demo_site import running_site, unavailable
from tests.support.server import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# tfjs-converter warns on every executeAsync of a graph without dynamic ops; the demo uses executeAsync
# on purpose (one code path for every graph), so this one warning is expected.
KNOWN_WARNINGS = ("This model execution did not contain any nodes with control flow",)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the browser tests (never downloaded: the system browser).

    Package scope, not session: Playwright's sync API keeps an asyncio loop running in the main thread
    while it is open, which would make every later `asyncio.run()` in the suite fail.
    """
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright (python) is not installed")
    executable = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def demo_samples(artifacts: Path) -> dict[str, list[dict[str, Any]]]:
    from web.demo_app import sample_rows

    return sample_rows(artifacts, n=8)


@pytest.fixture(scope="session")
def demo_url(artifacts: Path, live_server: LiveServer, demo_samples: dict[str, Any]) -> Iterator[str]:
    """The demo site over the artifacts, configured with the live server (CORS on) for comparisons."""
    from web.demo_app import SiteContent

    content = SiteContent(artifacts=artifacts, server_url=live_server.rest_url, samples=demo_samples)
    with running_site(content) as url:
        yield url


@dataclass
class ConsoleLog:
    """Everything the page printed (console messages by type, uncaught errors) and fetched."""

    messages: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)  # every URL the page fetched

    def problems(self) -> list[str]:
        errors = [f"console.{kind}: {text}" for kind, text in self.messages if kind == "error"]
        warnings = [
            f"console.warning: {text}"
            for kind, text in self.messages
            if kind == "warning" and not text.startswith(KNOWN_WARNINGS)
        ]
        return [*errors, *warnings, *(f"page error: {e}" for e in self.page_errors)]


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Callable[[str], tuple[Any, ConsoleLog]]]:
    """open_page(url) -> (page, console log) once the page reports data-ready (true or error)."""
    contexts = []

    def open_(url: str) -> tuple[Any, ConsoleLog]:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        log = ConsoleLog()
        page.on("console", lambda msg: log.messages.append((msg.type, msg.text)))
        page.on("pageerror", lambda err: log.page_errors.append(str(err)))
        page.on("request", lambda request: log.requested.append(request.url))
        page.goto(url)
        page.wait_for_selector("body[data-ready=true], body[data-ready=error]", timeout=120_000)
        return page, log

    yield open_
    for context in contexts:
        context.close()
