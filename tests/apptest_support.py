"""Shared driving of Streamlit's AppTest: rerun as the live fragment would, with a bound."""

import time

import pytest
from streamlit.testing.v1 import AppTest


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
