"""The allocator setting a CPU run makes (core/training/allocator.py), each case in a fresh
process since it is set once per process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _probe(code: str, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env},
                         capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


ASK = ("import json; from core.training import allocator as a; "
       "print(json.dumps([a.keep_freed_memory(), a.keep_freed_memory()]))")


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_the_thresholds_are_set_once_under_glibc():
    assert _probe(ASK) == [True, True]


@pytest.mark.parametrize("name", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"])
def test_a_users_own_setting_is_left_alone(name):
    assert _probe(ASK, **{name: "131072"}) == [False, False]


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_a_cpu_run_sets_them_and_trains_the_same():
    code = ("import json, torch; from core.config import RunConfig; "
            "from core.data import load_mnist1d; from core.training.train import train; "
            "from core.training import allocator as a; before = a._done; "
            "c = RunConfig(method='adam', model='gru', epochs=1, device='cpu'); "
            "m = list(train(c, load_mnist1d()))[-1]; "
            "print(json.dumps([before, a._done, m.train_loss, m.val_loss]))")
    kept = _probe(code)
    plain = _probe(code, MALLOC_TRIM_THRESHOLD_="131072")
    assert kept[:2] == [None, True] and plain[:2] == [None, False]
    # Where memory comes from changes no number.
    assert kept[2:] == plain[2:]
