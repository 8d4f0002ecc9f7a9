"""Server settings: each read from the environment, checked at start with a clear message."""

import pytest

from core.server_settings import SETTINGS, ServerSettings, read_settings, threads_per_job


def test_unset_or_empty_variables_take_the_defaults():
    assert read_settings({}) == (ServerSettings(), [])
    assert read_settings({s.env: " " for s in SETTINGS.values()}) == (ServerSettings(), [])


@pytest.mark.parametrize("env,value", [("JOB_THREADS", "abc"), ("JOB_THREADS", "0"),
                                       ("MAX_CONCURRENT_JOBS", "2.5"), ("MAX_QUEUED_JOBS", "-1"),
                                       ("MAX_JOB_SECONDS", "nan"), ("OWNER_GRACE_S", "inf"),
                                       ("JOB_MAX_MEMORY_MB", "lots"), ("JOB_MAX_TFLOP", "0")])
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
