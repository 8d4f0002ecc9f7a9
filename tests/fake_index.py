"""Tiny local package indexes for testing how pip and uv choose torch's CPU build.

A wheel here is the smallest one installers accept (dist-info with METADATA, WHEEL, RECORD);
an index is a PEP 503 folder of ``<project>/index.html`` pages, read through ``file://``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    info = f"{dist}.dist-info"
    metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                + "".join(f"Requires-Dist: {r}\n" for r in requires))
    wheel = "Wheel-Version: 1.0\nGenerator: fake\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", f"VERSION = {version!r}\n")
        z.writestr(f"{info}/METADATA", metadata)
        z.writestr(f"{info}/WHEEL", wheel)
        z.writestr(f"{info}/RECORD", f"{name}/__init__.py,,\n{info}/METADATA,,\n"
                                     f"{info}/WHEEL,,\n{info}/RECORD,,\n")
    return path


def make_index(root: Path, wheels: dict[str, list[Path]]) -> str:
    """A simple index at ``root`` serving ``{project: [wheel, ...]}``; returns its file URL."""
    for project, files in wheels.items():
        page = root / project
        page.mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="{f.resolve().as_uri()}">{f.name}</a>\n' for f in files)
        (page / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    (root / "index.html").write_text("".join(f'<a href="{p}/">{p}</a>\n' for p in wheels))
    return root.resolve().as_uri() + "/"
