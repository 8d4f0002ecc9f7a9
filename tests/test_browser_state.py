"""In a real browser: every page's URL keeps its settings after navigation and reload, the theme
follows the OS, and nothing is fetched from outside the server."""

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from browser_support import (EXCEPTION, app_server, browser, goto, page, text_of,  # noqa: F401
                             wait_idle, widget)

pytestmark = pytest.mark.timeout(240)
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/mnist1d-lab-shots"))


def query(p) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(p.url).query).items()}


def wait_url(p, test, what: str, limit_ms: int = 15_000) -> dict[str, str]:
    for _ in range(limit_ms // 250):
        if test(query(p)):
            return query(p)
        p.wait_for_timeout(250)
    pytest.fail(f"gave up waiting for the URL to {what}; it is {p.url}")


def settled_url(p, quiet_ms: int = 1000, limit_ms: int = 15_000) -> dict[str, str]:
    """The URL's settings once they have not changed for ``quiet_ms``."""
    last, since = query(p), 0
    for _ in range(limit_ms // 250):
        p.wait_for_timeout(250)
        now = query(p)
        since = since + 250 if now == last else 0
        last = now
        if since >= quiet_ms:
            return now
    pytest.fail(f"the URL kept changing; it is {p.url}")


def menu(p, path: str) -> None:
    """Move to another page through the sidebar menu, as a visitor does."""
    p.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]').first.click()
    wait_idle(p)


def number(p, key: str, expected: str, limit_ms: int = 15_000) -> str:
    """The widget's value once it shows ``expected`` (a rerun may still be drawing it)."""
    box = widget(p, key).locator("input")
    for _ in range(limit_ms // 250):
        if box.count() and box.input_value() == expected:
            break
        p.wait_for_timeout(250)
    return box.input_value()


@pytest.mark.parametrize("path, key, param, value", [
    ("train", "train.epochs", "epochs", "7"),
    ("search", "search.trials", "trials", "12"),
    ("reproduce", "repro.seeds", "seeds", "3"),
])
def test_url_keeps_the_settings_after_navigation_and_reload(page, app_server, path, key,
                                                            param, value):
    goto(page, app_server, path)
    wait_url(page, lambda q: param in q, "hold the page's settings")
    box = widget(page, key).locator("input")
    box.fill(value)
    box.press("Enter")
    wait_idle(page)
    wait_url(page, lambda q: q.get(param) == value, f"follow the widget ({param}={value})")
    menu(page, "compare")
    menu(page, path)
    wait_url(page, lambda q: q.get(param) == value, "hold the settings after navigation")
    # The page writes its URL in two steps (the fields it knows before drawing, then the rest
    # once drawn): compare whole URLs only once each has settled.
    held = settled_url(page)
    assert held.get(param) == value
    assert number(page, key, value) == value
    page.reload()
    wait_idle(page)
    assert number(page, key, value) == value, "a reload restores the settings from the URL"
    assert wait_url(page, lambda q: q == held, "stay the same after a reload") == held
    assert page.locator(EXCEPTION).count() == 0


def background(p) -> tuple[int, ...]:
    css = p.locator('[data-testid="stApp"]').evaluate("e => getComputedStyle(e).backgroundColor")
    return tuple(int(x) for x in re.findall(r"\d+", css)[:3])


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_theme_follows_the_os(browser, app_server, scheme):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 400):
        context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": 900})
        try:
            p = context.new_page()
            goto(p, app_server, "train")
            widget(p, "train.epochs").locator("input").wait_for()
            p.wait_for_timeout(1000)
            p.screenshot(path=str(SHOTS / f"train-{scheme}-{width}.png"))
            luminance = sum(background(p)) / 3
            assert (luminance > 200) if scheme == "light" else (luminance < 60), background(p)
        finally:
            context.close()


def test_the_page_fetches_nothing_from_outside_the_server(page, app_server):
    host = urlparse(app_server).netloc
    outside = []
    page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).scheme in
            ("http", "https", "ws", "wss") and urlparse(r.url).netloc != host else None)
    for path in ("", "train", "compare", "search", "reproduce"):
        goto(page, app_server, path)
        page.wait_for_timeout(500)
    icon = page.locator('link[rel~="icon"]').first.get_attribute("href") or ""
    assert not urlparse(icon).netloc or urlparse(icon).netloc == host, icon
    assert outside == [], outside
