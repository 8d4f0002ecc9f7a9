import pickle
import time

import numpy as np
import pytest

from conftest import REFERENCE
from core import data as data_module
from core.data import CACHE_NAME, load_mnist1d, make_split


@pytest.mark.skipif(not REFERENCE.exists(),
                    reason=f"published dataset not found at {REFERENCE} (../shared is absent)")
def test_generated_dataset_equals_published_one(mnist1d):
    with open(REFERENCE, "rb") as f:
        published = pickle.load(f)
    for name in ("y", "y_test"):
        assert np.array_equal(getattr(mnist1d, name), published[name]), name
    # Regenerating on another machine changes the last bit of some samples (measured: at most
    # 2.2e-16, one ulp), so the signals are compared to 1e-12, far below any effect on training.
    for name in ("x", "x_test", "t"):
        np.testing.assert_allclose(getattr(mnist1d, name), published[name], rtol=0, atol=1e-12)


def test_shapes_and_labels(mnist1d):
    assert mnist1d.x.shape == (4000, 40) and mnist1d.x_test.shape == (1000, 40)
    assert set(np.unique(mnist1d.y)) == set(range(10))


def test_cache_is_written_then_read_fast(tmp_path, monkeypatch):
    fresh = load_mnist1d(tmp_path)
    assert (tmp_path / CACHE_NAME).exists()
    data_module._memory.clear()
    start = time.perf_counter()
    again = load_mnist1d(tmp_path)
    assert time.perf_counter() - start < 1.0  # a disk read, not a 3 s regeneration
    assert np.array_equal(again.x, fresh.x)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "tampered"])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, damage, mnist1d):
    load_mnist1d(tmp_path)
    path = tmp_path / CACHE_NAME
    raw = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not an npz at all")
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    else:
        arrays = dict(np.load(path))
        arrays["x"] = arrays["x"] + 1.0
        np.savez(path, **arrays)
    assert data_module._read(path) is None
    data_module._memory.clear()
    rebuilt = load_mnist1d(tmp_path)
    assert np.array_equal(rebuilt.x, mnist1d.x)
    assert data_module._read(path) is not None


def test_cache_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST1D_LAB_CACHE", str(tmp_path / "here"))
    assert data_module.cache_dir() == tmp_path / "here"


def test_splits(mnist1d):
    w = make_split(mnist1d, "writeup")
    assert w.x_val is mnist1d.x_test and w.x_test is None
    h = make_split(mnist1d, "honest")
    assert h.x_train.shape == (3200, 40) and h.x_val.shape == (800, 40)
    assert h.x_test is mnist1d.x_test
    train_rows = {r.tobytes() for r in h.x_train}
    assert not any(r.tobytes() in train_rows for r in h.x_val)
    assert np.array_equal(make_split(mnist1d, "honest").x_val, h.x_val)  # fixed carve-out
    with pytest.raises(ValueError, match="unknown split"):
        make_split(mnist1d, "test")


def _load_in_thread(directory, limit_s=30):
    """load_mnist1d in a daemon thread: a hang fails the test instead of freezing the suite."""
    import threading
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("data", load_mnist1d(directory)),
                              daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), "load_mnist1d hung on the cache path"
    return out["data"]


def test_a_fifo_at_the_cache_path_is_not_opened_and_is_replaced(tmp_path, monkeypatch, mnist1d):
    import os
    import stat
    os.mkfifo(tmp_path / CACHE_NAME)
    monkeypatch.setattr(data_module, "generate", lambda: mnist1d)
    data_module._memory.clear()
    data = _load_in_thread(tmp_path)
    assert np.array_equal(data.x, mnist1d.x)
    # the rebuilt cache took the FIFO's place (an atomic rename over it)
    assert stat.S_ISREG((tmp_path / CACHE_NAME).stat().st_mode)


def test_a_failed_cache_write_is_logged_once(tmp_path, monkeypatch, mnist1d, caplog):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("a file where the cache directory should be")
    monkeypatch.setattr(data_module, "generate", lambda: mnist1d)
    for _ in range(3):
        data_module._memory.clear()
        with caplog.at_level("WARNING", logger="core.data"):
            assert np.array_equal(load_mnist1d(blocked).x, mnist1d.x)
    messages = [r.getMessage() for r in caplog.records if "could not cache" in r.getMessage()]
    assert len(messages) == 1 and str(blocked) in messages[0]
