"""A throwaway PostgreSQL server on 127.0.0.1 for the distributed-search tests.

initdb into a fresh temporary directory, pg_ctl start on a free port, trust authentication,
deleted afterwards. PostgreSQL refuses to run as root, so as root the binaries run as the
``postgres`` user through ``runuser``. Under ``CI=true`` a missing PostgreSQL is a failure (the CI
script installs it); elsewhere the tests skip with the reason.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager

import pytest


def find_bin_dir() -> str | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(f"no PostgreSQL for the distributed-search test: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server():
    """Yield a SQLAlchemy URL of a fresh, empty PostgreSQL database."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        unavailable("initdb not found under /usr/lib/postgresql/*/bin or on PATH")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        unavailable("psycopg2 is not installed (pip install -r requirements.txt)")
    as_root = os.geteuid() == 0
    prefix = []
    if as_root:
        runuser = shutil.which("runuser")
        try:
            import pwd
            pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root but there is no 'postgres' user to run the server")
        if runuser is None:
            unavailable("running as root but runuser is missing")
        prefix = [runuser, "-u", "postgres", "--"]
    base = tempfile.mkdtemp(prefix="mnist1d-lab-pg-")
    data = os.path.join(base, "data")
    os.mkdir(data, 0o700)
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    port = _free_port()
    log = os.path.join(base, "server.log")

    def run(*args):
        return subprocess.run(prefix + list(args), capture_output=True, text=True, timeout=120)

    try:
        out = run(os.path.join(bin_dir, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8")
        if out.returncode:
            unavailable(f"initdb failed: {out.stderr.strip()[-500:]}")
        out = run(os.path.join(bin_dir, "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "60",
                  "-o", f"-p {port} -k {base} -h 127.0.0.1 -c fsync=off", "start")
        if out.returncode:
            detail = open(log).read()[-800:] if os.path.exists(log) else out.stderr
            unavailable(f"pg_ctl start failed: {detail}")
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        for _ in range(100):
            try:
                import psycopg2
                psycopg2.connect(url).close()
                break
            except Exception:
                time.sleep(0.1)
        yield url
    finally:
        run(os.path.join(bin_dir, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)
