"""Server settings: each read from the environment, checked at start with a clear message."""

import pytest

from core.server_settings import (SETTINGS, ServerSettings, jobs_per_visitor, read_settings,
                                  threads_per_job, visitor_address)


def test_unset_or_empty_variables_take_the_defaults():
    assert read_settings({}) == (ServerSettings(), [])
    assert read_settings({s.env: " " for s in SETTINGS.values()}) == (ServerSettings(), [])


@pytest.mark.parametrize("env,value", [("JOB_THREADS", "abc"), ("JOB_THREADS", "0"),
                                       ("MAX_CONCURRENT_JOBS", "2.5"), ("MAX_QUEUED_JOBS", "-1"),
                                       ("MAX_JOB_SECONDS", "nan"), ("OWNER_GRACE_S", "inf"),
                                       ("JOB_MAX_MEMORY_MB", "lots"), ("JOB_MAX_TFLOP", "0"),
                                       ("MAX_JOBS_PER_VISITOR", "0"), ("TRUSTED_PROXIES", "-2"),
                                       ("TRUSTED_PROXIES", "1.5")])
def test_every_bad_value_is_named_with_what_it_accepts(env, value):
    settings, problems = read_settings({env: value})
    assert settings == ServerSettings(), "a bad value leaves the default in place"
    assert len(problems) == 1 and env in problems[0] and repr(value) in problems[0]


def test_good_values_are_read():
    settings, problems = read_settings({"JOB_THREADS": "3", "MAX_JOB_SECONDS": "60.5",
                                        "MAX_QUEUED_JOBS": "0"})
    assert problems == []
    assert (settings.job_threads, settings.max_job_s, settings.max_queued_jobs) == (3, 60.5, 0)


def test_threads_follow_the_affinity_mask_not_the_machine(monkeypatch):
    import os
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert threads_per_job(ServerSettings(max_concurrent_jobs=2)) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert threads_per_job(ServerSettings(max_concurrent_jobs=2)) == 4
    assert threads_per_job(ServerSettings(job_threads=3)) == 3


def test_one_visitor_gets_fewer_jobs_than_there_are_slots_unless_set():
    assert jobs_per_visitor(ServerSettings()) == 1, "2 slots by default: one visitor holds one"
    assert jobs_per_visitor(ServerSettings(max_concurrent_jobs=1)) == 1
    assert jobs_per_visitor(ServerSettings(max_concurrent_jobs=8)) == 7
    settings, problems = read_settings({"MAX_JOBS_PER_VISITOR": "3", "TRUSTED_PROXIES": "1"})
    assert problems == [] and jobs_per_visitor(settings) == 3 and settings.trusted_proxies == 1
    assert ServerSettings().trusted_proxies == -1, "addresses are not trusted unless configured"


@pytest.mark.parametrize("proxies,peer,forwarded,expected", [
    (-1, "203.0.113.9", ["198.51.100.1"], None),                 # the default: no addresses
    (0, "203.0.113.9", ["198.51.100.1"], "203.0.113.9"),         # direct: the header is a lie
    (0, None, [], None),                                         # localhost
    (1, "10.0.0.2", ["198.51.100.1"], "198.51.100.1"),           # behind one proxy
    (1, "10.0.0.2", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client's own entry ignored
    (2, "10.0.0.2", ["6.6.6.6, 198.51.100.1", "10.0.0.1"], "198.51.100.1"),  # repeated headers
    (2, "10.0.0.2", ["198.51.100.1"], None),                     # bypassed a proxy: no guess
])
def test_the_visitors_address_is_trusted_only_as_far_as_configured(proxies, peer, forwarded,
                                                                   expected):
    assert visitor_address(proxies, peer, forwarded) == expected
