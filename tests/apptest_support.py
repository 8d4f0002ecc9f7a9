"""Shared driving of Streamlit's AppTest: rerun as the live fragment would, with a bound."""

import time

import pytest
from streamlit.testing.v1 import AppTest


def open_page(page: str, query: dict | None = None, app: str = "../app.py") -> AppTest:
    """``app`` opened on ``pages/<page>.py`` with ``query`` as the URL's parameters."""
    at = AppTest.from_file(app, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page(f"pages/{page}.py")
    return at.run()


def run_until(at: AppTest, done, what: str, limit_s: float = 180, every_s: float = 0.2) -> AppTest:
    """Rerun the script until ``done(at)``; any exception on the page fails at once."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if done(at):
            return at
        time.sleep(every_s)
    pytest.fail(f"gave up waiting for {what}")
