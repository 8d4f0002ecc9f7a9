"""Does the server fit a free Community Cloud container? Memory and responsiveness under visitors.

For each CPU set (``taskset -c 0``: one CPU; ``taskset -c 0,1``: two) this starts
``streamlit run app.py`` on 127.0.0.1 pinned to those CPUs and measures, with real browser
sessions (Debian's chromium through Playwright, the tooling of tests/browser_support.py):

* the server's resident memory (VmRSS, sampled every 0.25 s; the peak is reported) idle after
  the first page load, and while N visitors run jobs;
* the health endpoint's latency (``/_stcore/health``, polled every 0.1 s from this process):
  its median and 95th percentile over each window.

Scenarios: N=1 one Train run; N=3 a Train run, a Compare of 2 methods x 5 seeds and a Search;
N=8 eight sessions pressing Start on Train (with the default caps, 2 run, 4 queue and 2 are told
the server is busy: that refusal is the point, and is counted). Every run is long enough to
still be going when its window ends; each window lasts ``--window`` seconds after the last Start.

Everything is loopback and bounded (sessions, windows, a hard timeout per server). Timings depend
on the machine's load: the script prints ``uptime`` before and after; quote it with the numbers.

    python bench/capacity.py                 # 1 and 2 CPUs, N = 1, 3, 8; a Markdown table
    python bench/capacity.py --cpus 0 --window 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import (CHROMIUM, LAUNCH_ARGS, goto, streamlit_server,  # noqa: E402
                             text_of, wait_idle, widget)

LONG_TRAIN = "epochs=3000"
COMPARE = "methods=adam,gnw_adam&seeds=5&epochs=500"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def server(cpus: str):
    """``streamlit run app.py`` under ``taskset -c cpus`` (which execs it, so the child's pid is
    the server's); yields (base url, pid). A short owner grace lets the closed tabs of one
    scenario release their jobs before the next."""
    with streamlit_server(env={"OWNER_GRACE_S": "3"}, prefix=("taskset", "-c", cpus)) as url:
        port = url.rsplit(":", 1)[1]
        yield url, server_pid(port)


def server_pid(port: str) -> int:
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(argv) and port.encode() in argv:
            return int(entry.name)
    raise RuntimeError(f"no streamlit process on port {port}")


class Probe:
    """Samples RSS and health latency in background threads until stopped."""

    def __init__(self, url: str, pid: int):
        self.url, self.pid = url, pid
        self.rss: list[float] = []
        self.latency: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._memory, daemon=True),
                         threading.Thread(target=self._health, daemon=True)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def _memory(self):
        while not self._stop.wait(0.25):
            self.rss.append(rss_mb(self.pid))

    def _health(self):
        while not self._stop.wait(0.1):
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=10) as r:
                    r.read()
                self.latency.append(time.perf_counter() - start)
            except OSError:
                self.failures += 1

    def summary(self) -> dict:
        lat = sorted(self.latency)
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
        return {"rss_peak_mb": max(self.rss, default=float("nan")),
                "health_median_ms": 1000 * statistics.median(lat) if lat else float("nan"),
                "health_p95_ms": 1000 * p95, "health_failures": self.failures,
                "samples": len(lat)}


def press(page, key: str) -> None:
    widget(page, key).locator("button").first.click()


def visitors(browser, url: str, n: int) -> tuple[list, int]:
    """Open the scenario's N sessions and press Start in each; (contexts, refused count)."""
    plan = ([("train", LONG_TRAIN, "train.start")] if n == 1 else
            [("train", LONG_TRAIN, "train.start"), ("compare", COMPARE, "compare.start"),
             ("search", "", "search.start")] if n == 3 else
            [("train", LONG_TRAIN, "train.start")] * n)
    contexts, pages = [], []
    for path, query, key in plan:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(60_000)
        page = ctx.new_page()
        goto(page, url, path, query)
        contexts.append(ctx)
        pages.append((page, key))
    for page, key in pages:
        press(page, key)
    refused = 0
    for page, _ in pages:
        page.wait_for_timeout(1000)
        if "busy" in text_of(page, '[data-testid="stAlert"]'):
            refused += 1
    return contexts, refused


def measure(cpus: str, window: float, counts: list[int]) -> list[dict]:
    from playwright.sync_api import sync_playwright
    rows = []
    with server(cpus) as (url, pid), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        first = browser.new_context().new_page()
        first.goto(f"{url}/train")          # builds the dataset, imports torch: slow when loaded
        wait_idle(first, 180_000)
        first.context.close()
        time.sleep(2)
        with Probe(url, pid) as probe:
            time.sleep(window / 2)
        rows.append(report({"cpus": cpus, "visitors": 0, "refused": 0, **probe.summary()}))
        for n in counts:
            contexts, refused = visitors(browser, url, n)
            with Probe(url, pid) as probe:
                time.sleep(window)
            rows.append(report({"cpus": cpus, "visitors": n, "refused": refused,
                                **probe.summary()}))
            for ctx in contexts:
                ctx.close()
            # closed tabs: the runner stops their jobs OWNER_GRACE_S (3 s here) after Streamlit
            # sees the sessions gone, on its janitor's next round (2 s), within a batch
            time.sleep(15)
        browser.close()
    return rows


HEADER = ("| CPUs (taskset -c) | visitors | refused busy | server RSS peak (MB) | "
          "health median (ms) | health p95 (ms) | health failures |\n|---|---|---|---|---|---|---|")


def row(r: dict) -> str:
    return (f"| {r['cpus']} | {r['visitors'] or 'idle'} | {r['refused']} | "
            f"{r['rss_peak_mb']:.0f} | {r['health_median_ms']:.0f} | "
            f"{r['health_p95_ms']:.0f} | {r['health_failures']} |")


def report(r: dict) -> dict:
    print("#", row(r), flush=True)   # as measured, so a later failure loses nothing
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpus", nargs="+", default=["0", "0,1"],
                    help="taskset CPU lists, one server each")
    ap.add_argument("--visitors", nargs="+", type=int, default=[1, 3, 8])
    ap.add_argument("--window", type=float, default=20.0, help="seconds measured per scenario")
    args = ap.parse_args()
    if any(n > 16 for n in args.visitors):
        ap.error("at most 16 visitors: this is a bounded, loopback-only check")
    print("# uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout
          .strip(), flush=True)
    rows = []
    for cpus in args.cpus:
        rows += measure(cpus, args.window, args.visitors)
    print("# uptime after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout
          .strip())
    print()
    print(HEADER)
    for r in rows:
        print(row(r))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
