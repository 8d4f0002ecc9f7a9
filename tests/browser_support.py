"""Real-browser testing of the app: a Streamlit server plus Debian's headless chromium.

Reuse from any test module (the tests folder is on ``sys.path`` under pytest)::

    from browser_support import app_server, browser, page, goto  # noqa: F401  (fixtures)

    @pytest.mark.timeout(180)
    def test_my_page(app_server, page):
        goto(page, app_server, "search")          # opens /search and waits until it is idle
        assert page.locator(EXCEPTION).count() == 0

Fixtures:

* ``app_server`` (module scope): runs ``streamlit run app.py`` on 127.0.0.1 and a free port
  and yields its base URL; the server is stopped (by its own pid) afterwards and its log is
  printed if a test failed to start it.
* ``browser`` (module scope): a Playwright chromium launched from ``/usr/bin/chromium``
  (``$CHROMIUM`` overrides). Missing browser: ``pytest.fail`` under ``CI=true``, otherwise the
  tests skip with the reason.
* ``page`` (function scope): a fresh page in its own browser context (its own Streamlit
  session); ``browser.new_context()`` gives more isolated sessions.

Helpers: :func:`goto`, :func:`wait_idle` (waits the way Streamlit's own e2e tests do: the app's
``data-test-connection-state="CONNECTED"`` and ``data-test-script-state="notRunning"``),
:func:`widget` (the element of a widget by its Streamlit ``key``), :func:`text_of`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() == "true"
EXCEPTION = '[data-testid="stException"]'
APP_ROOT = '[data-testid="stApp"]'
SERVER_START_S = 90
PAGE_TIMEOUT_MS = 30_000


def missing(reason: str):
    """A browser test cannot run: a failure in CI, a skip (with the reason) elsewhere."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(app: str = "app.py", env: dict | None = None,
                     prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Run the app in a child process; yield ``http://127.0.0.1:<port>`` once it is healthy.
    ``prefix`` goes before the command, e.g. ``("taskset", "-c", "0")`` (it must exec it)."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="streamlit-", suffix=".log", delete=False)
    cmd = [*prefix, sys.executable, "-m", "streamlit", "run", app, "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{_read(log)}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not become healthy:\n{_read(log)}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        os.unlink(log.name)


def _read(log) -> str:
    log.flush()
    with open(log.name) as f:
        return f.read()[-5000:]


@pytest.fixture(scope="module")
def app_server() -> Iterator[str]:
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install -r requirements-dev.txt)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing(f"no chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        except Exception as error:   # a browser that is there but cannot start
            missing(f"chromium at {CHROMIUM} failed to launch: {error}")
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    p = context.new_page()
    yield p
    context.close()


def wait_idle(page, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Connected, and the script (not counting a running fragment) has finished."""
    page.wait_for_selector(f'{APP_ROOT}[data-test-connection-state="CONNECTED"]',
                           timeout=timeout_ms)
    page.wait_for_selector(f'{APP_ROOT}[data-test-script-state="notRunning"]',
                           timeout=timeout_ms)


def goto(page, base_url: str, path: str = "", query: str = "") -> None:
    page.goto(f"{base_url}/{path}" + (f"?{query}" if query else ""))
    wait_idle(page)


def widget(page, key: str):
    """The container of the widget with Streamlit key ``key`` (Streamlit adds a CSS class
    ``st-key-<key>``, with characters other than letters, digits, - and _ turned into -)."""
    css = "".join(c if c.isalnum() or c in "-_" else "-" for c in key)
    return page.locator(f".st-key-{css}")


def text_of(page, selector: str) -> str:
    loc = page.locator(selector)
    return " ".join(loc.all_inner_texts()) if loc.count() else ""
