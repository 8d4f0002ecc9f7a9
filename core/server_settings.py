"""The server's caps, read from environment variables and checked once at start.

Every resource a visitor can spend is bounded by one of these. The defaults fit a free Streamlit
Community Cloud container (about 1 CPU and 0.7-2.7 GB of memory): two jobs at once, each at
most 400 MB and 5 TFLOP (about 10 minutes of one core on the default MLP) and no longer than
the wall-time limit at the server's measured pace (refused up front; one that still overruns is
stopped there), a short queue, and fewer jobs per visitor than there are slots.

A bad value is never silently replaced where it matters: :func:`read_settings` returns the
problems it found (each naming the variable, the value and what it accepts), and the app shows
them instead of starting any job. Nothing here imports torch or streamlit.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from typing import Mapping


@dataclass(frozen=True)
class Setting:
    env: str
    low: float
    high: float
    integer: bool
    help: str


# The one list of server settings; the README's "Server settings" section lists the same.
SETTINGS = {
    "max_concurrent_jobs": Setting("MAX_CONCURRENT_JOBS", 1, 64, True,
                                   "training jobs that run at once across all visitors"),
    "max_queued_jobs": Setting("MAX_QUEUED_JOBS", 0, 1000, True,
                               "jobs that may wait for a slot; a Start beyond it is refused "
                               "with 'server busy'"),
    "max_job_s": Setting("MAX_JOB_SECONDS", 10, 7 * 24 * 3600, False,
                         "wall-clock limit of one job; it is stopped (its results kept) there"),
    "owner_grace_s": Setting("OWNER_GRACE_S", 0, 24 * 3600, False,
                             "a job whose browser tab has gone is stopped after this long"),
    "job_threads": Setting("JOB_THREADS", 1, 256, True,
                           "torch threads per job (default: the CPUs this process may use, "
                           "divided by MAX_CONCURRENT_JOBS)"),
    "job_memory_mb": Setting("JOB_MAX_MEMORY_MB", 16, 1024 * 1024, False,
                             "estimated memory of one job (weights, gradients, optimizer "
                             "state, activations); a bigger job is refused before it starts"),
    "job_tflop": Setting("JOB_MAX_TFLOP", 0.001, 1e9, False,
                         "estimated compute of one job in 10^12 floating-point operations; "
                         "a bigger job is refused before it starts"),
    "max_jobs_per_visitor": Setting("MAX_JOBS_PER_VISITOR", 1, 64, True,
                                    "queued or running jobs of one visitor across all their tabs "
                                    "(default: MAX_CONCURRENT_JOBS - 1, at least 1)"),
    "trusted_proxies": Setting("TRUSTED_PROXIES", -1, 16, True,
                               "-1: a visitor is their browser; 0: also the connection's address "
                               "(a server reached directly); N >= 1: also the address your N "
                               "proxies put in X-Forwarded-For"),
}


@dataclass(frozen=True)
class ServerSettings:
    max_concurrent_jobs: int = 2
    max_queued_jobs: int = 4
    max_job_s: float = 1800.0
    owner_grace_s: float = 30.0
    job_threads: int | None = None
    job_memory_mb: float = 400.0
    job_tflop: float = 5.0
    max_jobs_per_visitor: int | None = None
    trusted_proxies: int = -1


def _parse(setting: Setting, raw: str) -> tuple[float | None, str | None]:
    text = raw.strip()
    try:
        value = int(text) if setting.integer else float(text)
    except ValueError:
        kind = "a whole number" if setting.integer else "a number"
        return None, f"{setting.env}={raw!r} is not {kind}"
    if not (math.isfinite(value) and setting.low <= value <= setting.high):
        return None, (f"{setting.env}={raw!r} is outside the accepted range "
                      f"[{setting.low:g}, {setting.high:g}]")
    return value, None


def read_settings(environ: Mapping[str, str] | None = None) -> tuple[ServerSettings, list[str]]:
    """The settings from ``environ`` (default: the process environment), and the problems.

    A variable that is unset or empty takes its default. A bad one also takes its default in
    the returned settings, so that a caller can still build objects, but it is listed in the
    problems, and the app refuses to start jobs while any problem remains."""
    environ = os.environ if environ is None else environ
    values, problems = {}, []
    for name, setting in SETTINGS.items():
        raw = environ.get(setting.env, "")
        if not raw.strip():
            continue
        value, problem = _parse(setting, raw)
        if problem:
            problems.append(f"{problem}: {setting.help}.")
        else:
            values[name] = value
    assert set(SETTINGS) == {f.name for f in fields(ServerSettings)}
    return ServerSettings(**values), problems


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under ``taskset`` or a container's
    cpuset), not the machine's core count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def threads_per_job(settings: ServerSettings) -> int:
    """JOB_THREADS, else the usable CPUs split among the concurrent jobs (at least one)."""
    if settings.job_threads is not None:
        return int(settings.job_threads)
    return max(1, usable_cpus() // max(1, settings.max_concurrent_jobs))


def jobs_per_visitor(settings: ServerSettings) -> int:
    """MAX_JOBS_PER_VISITOR, else one fewer than the slots, so that no one visitor can hold
    them all (at least one)."""
    if settings.max_jobs_per_visitor is not None:
        return int(settings.max_jobs_per_visitor)
    return max(1, int(settings.max_concurrent_jobs) - 1)


def visitor_address(trusted_proxies: int, peer: str | None, forwarded_for: list[str]) -> str | None:
    """The visitor's address as far as ``TRUSTED_PROXIES`` lets the server trust one, or None.

    ``peer`` is the connection's own address (None for localhost); ``forwarded_for`` the
    X-Forwarded-For headers in order. Each proxy appends the address it was reached from, so
    with N proxies of one's own the N-th entry from the right is what the first of them saw;
    entries further left were written by the client and prove nothing. Too few entries (a
    request that bypassed the proxies) give None rather than a guess."""
    if trusted_proxies < 0:
        return None
    if trusted_proxies == 0:
        return peer or None
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    return hops[-trusted_proxies] if len(hops) >= trusted_proxies else None
