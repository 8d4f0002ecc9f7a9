"""MNIST-1D, generated offline with the ``mnist1d`` package and cached on disk.

The cache lives in a user cache directory (``$MNIST1D_LAB_CACHE``, else
``$XDG_CACHE_HOME/mnist1d-lab``, else ``~/.cache/mnist1d-lab``), never in the working tree.
A cache file that is partial, corrupt or of the wrong shape is rebuilt; anything at the cache
path that is not a regular file (a FIFO, a device) is never opened for reading, since opening a
FIFO blocks until a writer comes, with the dataset lock held.
"""

import hashlib
import logging
import os
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE_NAME = "mnist1d_v1.npz"
SPLITS = ("writeup", "honest")
# The honest split carves this many training samples out as validation, with a fixed seed so
# every method and every run seed is validated on the same samples.
HONEST_VAL_SIZE = 800
HONEST_SPLIT_SEED = 1234
_ARRAYS = ("x", "y", "x_test", "y_test", "t")
_SHAPES = {"x": (4000, 40), "y": (4000,), "x_test": (1000, 40), "y_test": (1000,), "t": (40,)}
_lock = threading.Lock()
_memory: dict[str, "MNIST1D"] = {}
_write_failures_logged: set[str] = set()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MNIST1D:
    x: np.ndarray        # (4000, 40) float64 training signals
    y: np.ndarray        # (4000,) int64 labels 0..9
    x_test: np.ndarray   # (1000, 40)
    y_test: np.ndarray   # (1000,)
    t: np.ndarray        # (40,) the signal's time axis, for plotting


@dataclass(frozen=True)
class Split:
    """Arrays for one run: train on (x_train, y_train), validate on (x_val, y_val).

    ``x_test`` is None when the validation set *is* the test set (the write-ups' protocol).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None


def cache_dir() -> Path:
    if os.environ.get("MNIST1D_LAB_CACHE"):
        return Path(os.environ["MNIST1D_LAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist1d-lab"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in _ARRAYS:
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def generate() -> MNIST1D:
    """Build the dataset with mnist1d's own generator (its download path is never used)."""
    from mnist1d.data import get_dataset_args, make_dataset
    raw = make_dataset(get_dataset_args())
    return MNIST1D(**{name: np.asarray(raw[name]) for name in _ARRAYS})


def _open_regular(path: Path):
    """A binary file object for ``path`` if it is a regular file, else None, without blocking:
    O_NONBLOCK makes opening a FIFO return at once, and fstat then tells what was opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def _read(path: Path) -> MNIST1D | None:
    file = _open_regular(path)
    if file is None:
        return None
    try:
        with file, np.load(file, allow_pickle=False) as f:
            arrays = {name: f[name] for name in _ARRAYS}
            stored = str(f["sha256"])
    except Exception:  # truncated zip, missing member, not an npz at all
        return None
    if any(arrays[n].shape != s for n, s in _SHAPES.items()) or _digest(arrays) != stored:
        return None
    return MNIST1D(**arrays)


def _write(path: Path, data: MNIST1D) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: getattr(data, name) for name in _ARRAYS}
    # Write then rename, so a reader never sees a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, sha256=np.array(_digest(arrays)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_mnist1d(directory: Path | str | None = None) -> MNIST1D:
    """The dataset, from memory, else the disk cache, else generated (about 3 s) and cached."""
    path = Path(directory or cache_dir()) / CACHE_NAME
    key = str(path)
    with _lock:
        if key in _memory:
            return _memory[key]
        data = _read(path)
        if data is None:
            data = generate()
            try:
                _write(path, data)
            except OSError as error:
                # A read-only cache still leaves a usable dataset; say so once per path, not on
                # every load.
                if key not in _write_failures_logged:
                    _write_failures_logged.add(key)
                    log.warning("could not cache the dataset at %s (%s); it will be rebuilt "
                                "at each start", path, error)
        _memory[key] = data
        return data


def make_split(data: MNIST1D, name: str) -> Split:
    """``writeup``: validate on the 1000 test samples, as the write-ups did.

    ``honest``: validate on 800 samples carved out of the training set; the test set is kept for
    one final report.
    """
    if name == "writeup":
        return Split(name, data.x, data.y, data.x_test, data.y_test, None, None)
    if name == "honest":
        order = np.random.default_rng(HONEST_SPLIT_SEED).permutation(len(data.y))
        val, train = order[:HONEST_VAL_SIZE], order[HONEST_VAL_SIZE:]
        return Split(name, data.x[train], data.y[train], data.x[val], data.y[val],
                     data.x_test, data.y_test)
    raise ValueError(f"unknown split {name!r}; choose one of {list(SPLITS)}")
