"""Output files of the CLI: checked before any work starts, written atomically after it."""

import os
import tempfile
from pathlib import Path


def check_output_path(path: str) -> None:
    """Raise ValueError unless ``path`` can be written: its folder exists and takes a file."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{path!r} is a folder; name a file")
    if not p.parent.is_dir():
        raise ValueError(f"cannot write {path!r}: the folder {str(p.parent)!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".check")
    except OSError as error:
        raise ValueError(f"cannot write {path!r}: {error.strerror}") from None
    os.close(fd)
    os.unlink(probe)


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: a reader
    (or a crash) never sees half a file, and an old file stays whole until the new one is."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        # mkstemp makes the file private (0600); a result file gets the usual mode for the umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except BaseException:
        os.unlink(tmp)
        raise
