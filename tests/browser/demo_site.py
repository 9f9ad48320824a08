"""Run the demo's page server (web.demo_app) in a background thread on a free port, for tests."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from web.demo_app import REPO, SiteContent, check_content, create_app
from web.serve_demo import bind

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


@contextlib.contextmanager
def running_site(content: SiteContent, startup_timeout: float = 30.0) -> Iterator[str]:
    """Yield the base URL ("http://127.0.0.1:PORT") of the site serving `content`."""
    check_content(content)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(content), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("demo page server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def save_screenshot(page: Any, name: str) -> Path:
    """Full-page PNG under test-artifacts/screenshots/ (kept by CI as a test artifact)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def unavailable(reason: str) -> None:
    """A missing browser fails the run under CI (env CI set) and skips it otherwise."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: browser tests must run, not skip)")
    pytest.skip(reason)
