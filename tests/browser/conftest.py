"""Browser tests: the portal served by uvicorn on a free port, driven in Debian's headless Chromium.

`playwright install` cannot download browsers here, so Playwright drives /usr/bin/chromium. Without
it the tests skip naming the package to install, except under CI, where they must run.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import build_test_portal
from tests.fakes import FixedClock

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, launched once for the session."""
    if not CHROMIUM.exists():
        message = "install Debian's chromium package (apt-get install chromium) to run the browser tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live(project: Path, no_x_credentials) -> Iterator[object]:
    """The portal of the temp project served on 127.0.0.1:<free port>; uploads run in a thread."""
    import uvicorn

    from bot.bootstrap import start_thread

    port = _free_port()
    config = project / "bot.toml"
    config.write_text(config.read_text().replace("port = 8000", f"port = {port}"))
    built = build_test_portal(project, FixedClock(), runner=start_thread)
    server = uvicorn.Server(uvicorn.Config(built.web, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, name="test-portal")
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for a real server to listen; no test logic depends on it
    assert server.started, "the portal did not start"
    built.url = f"http://127.0.0.1:{port}"
    yield built
    server.should_exit = True
    thread.join(timeout=20)
    for other in threading.enumerate():  # an upload's reconciliation, if one is still running
        if other.name == "offerbot-portal-job":
            other.join(timeout=60)
    built.app.close()


@pytest.fixture
def page(browser, live) -> Iterator[object]:
    """A fresh browser page on the live portal; the test fails on any console error, page error
    or Content-Security-Policy violation."""
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
           if msg.type == "error" or "Content-Security-Policy" in msg.text else None)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    yield tab
    context.close()
    assert problems == [], problems
