"""The exact versions of the packages that move a record's numbers, pinned beside the record.

A search picks other values when the last bits of a loss differ, and torch, numpy, optuna's
sampler and mnist1d's generator all reach those bits. A record is written with a constraints
file (``pip install -c results/reproduction-constraints.txt ...`` reinstalls its versions), and
``python -m core reproduce`` warns when the installed versions differ from it.
"""

from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "optuna", "numpy", "scipy", "mnist1d")
RECORD_CONSTRAINTS = Path(__file__).resolve().parents[2] / "results" / \
    "reproduction-constraints.txt"


def installed() -> dict[str, str]:
    """package -> installed version ("not installed" when it is absent)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def constraints_text(versions: dict[str, str] | None = None) -> str:
    versions = installed() if versions is None else versions
    lines = ["# The versions results/reproduction.* were made with (python -m core reproduce "
             "writes this file beside its --json).",
             "# Reinstall them with: pip install -c results/reproduction-constraints.txt "
             "-r requirements.txt"]
    lines += [f"{name}=={v}" for name, v in versions.items() if v != "not installed"]
    return "\n".join(lines) + "\n"


def read_constraints(path: Path | str) -> dict[str, str]:
    """``name==version`` lines of a constraints file (comments and blanks skipped)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            out[name.strip().lower()] = version.strip()
    return out


def differences(path: Path | str = RECORD_CONSTRAINTS,
                versions: dict[str, str] | None = None) -> list[str]:
    """One sentence per pinned package whose installed version differs; [] when all match or
    there is no constraints file."""
    try:
        pinned = read_constraints(path)
    except OSError:
        return []
    versions = installed() if versions is None else versions
    return [f"{name} {versions.get(name, 'not installed')} is installed; the record was made "
            f"with {want}" for name, want in pinned.items()
            if versions.get(name, "not installed") != want]


def constraints_path(json_path: str | Path) -> Path:
    """Where a record's constraints file goes: ``results/reproduction.json`` ->
    ``results/reproduction-constraints.txt``."""
    p = Path(json_path)
    return p.with_name(f"{p.stem}-constraints.txt")
