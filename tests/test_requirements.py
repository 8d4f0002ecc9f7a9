"""requirements.txt gets torch's CPU build on Linux, checked statically and with pip and uv
resolving against tiny local indexes (no network: every index is a ``file://`` folder)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT
from fake_index import make_index, make_wheel

REQUIREMENTS = ROOT / "requirements.txt"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
pytestmark = pytest.mark.timeout(120)


def lines(path: Path = REQUIREMENTS) -> list[str]:
    return [s for s in (raw.split(" #")[0].strip() for raw in path.read_text().splitlines())
            if s and not s.startswith("#")]


def test_requirements_pin_torch_and_name_the_cpu_index_as_an_extra_index():
    found = lines()
    torch = [s for s in found if re.match(r"torch\b", s)]
    assert torch == ["torch==2.13.0"], "one exact torch pin; a local label (+cpu) would stop " \
                                       "macOS, which has no +cpu wheel, from installing"
    options = [s for s in found if s.startswith("-")]
    # An extra index, never --index-url (that would hide PyPI) nor --find-links (uv then keeps
    # PyPI's CUDA build: see test_uv_and_pip_pick_the_cpu_build).
    assert options == [f"--extra-index-url {CPU_INDEX}"]
    assert (ROOT / "app.py").exists(), "Community Cloud reads requirements.txt next to app.py"


def test_python_version_is_pinned_to_a_supported_one():
    version = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.1[0-3]", version), version


def uv_binary() -> str | None:
    try:
        from uv import find_uv_bin
        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    """PyPI stand-in (plain torch, which on Linux is the CUDA build, and another package that
    torch needs) and the CPU index (torch 2.13.0+cpu only, as PyTorch's index serves it)."""
    root = tmp_path_factory.mktemp("indexes")
    plain = make_wheel(root / "wheels/main", "torch", "2.13.0", ("labdep>=1.0",))
    labdep = make_wheel(root / "wheels/main", "labdep", "1.2")
    cpu = make_wheel(root / "wheels/cpu", "torch", "2.13.0+cpu", ("labdep>=1.0",))
    main = make_index(root / "main", {"torch": [plain], "labdep": [labdep]})
    cpu_index = make_index(root / "cpu", {"torch": [cpu]})
    # requirements.txt's own index lines and torch pin, with the CPU index pointed at the folder.
    text = "\n".join(s.replace(CPU_INDEX, cpu_index.rstrip("/")) for s in lines()
                     if s.startswith("-") or s.startswith("torch"))
    req = root / "requirements.txt"
    req.write_text(text + "\nlabdep>=1.0\n")
    return {"root": root, "main": main, "cpu": cpu_index, "req": req}


def offline_env(root: Path) -> dict:
    # No pip/uv configuration of this machine (its local wheel folders) may take part.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1", UV_CACHE_DIR=str(root / "uv-cache"),
               UV_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def pip_choice(indexes) -> dict[str, str]:
    report = indexes["root"] / "pip-report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "-q",
                    "--ignore-installed", "--no-cache-dir", "--report", str(report),
                    "--index-url", indexes["main"], "-r", str(indexes["req"])],
                   check=True, env=offline_env(indexes["root"]), timeout=90,
                   capture_output=True)
    return {i["metadata"]["name"]: i["download_info"]["url"]
            for i in json.loads(report.read_text())["install"]}


def uv_choice(uv: str, indexes) -> dict[str, str]:
    """``{package: "version from index"}`` as ``uv pip compile`` annotates them."""
    out = subprocess.run([uv, "pip", "compile", "--quiet", "--no-header", "--python-version",
                          "3.11", "--emit-index-annotation", "--index-url", indexes["main"],
                          str(indexes["req"])], check=True, env=offline_env(indexes["root"]),
                         timeout=90, capture_output=True, text=True).stdout
    pins = re.findall(r"^([\w-]+)==(\S+)$.*?# from (\S+)", out, flags=re.M | re.S)
    return {name: f"{version} from {index.rstrip('/')}" for name, version, index in pins}


def test_uv_and_pip_pick_the_cpu_build_and_take_the_rest_from_the_main_index(indexes):
    picked = pip_choice(indexes)
    assert "/wheels/cpu/torch-2.13.0%2Bcpu-" in picked["torch"], picked
    assert "/wheels/main/labdep-1.2" in picked["labdep"], picked
    uv = uv_binary()
    if uv is None:
        if IN_CI:
            pytest.fail("uv is in requirements-dev.txt; CI must check Community Cloud's installer")
        pytest.skip("uv is not installed (pip install uv)")
    chosen = uv_choice(uv, indexes)
    assert chosen["torch"] == f"2.13.0+cpu from {indexes['cpu'].rstrip('/')}", chosen
    assert chosen["labdep"] == f"1.2 from {indexes['main'].rstrip('/')}", chosen


def readme_test_command() -> str:
    section = (ROOT / "README.md").read_text().split("\n## Test\n", 1)[1]
    return re.search(r"```bash\n(.+?)\n```", section, flags=re.S).group(1).strip()


def test_ci_runs_the_readmes_test_command_in_a_fresh_virtual_environment():
    command = readme_test_command()
    script = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert script[-1] == command, "the README's test command is .ci/run's last line, verbatim"
    assert command.startswith("python3 -m venv --clear "), "a fresh environment every run"
    venv = command.split()[4]
    assert venv in lines(ROOT / ".gitignore") or f"{venv}/" in lines(ROOT / ".gitignore")
    steps = command.split(" && ")
    assert steps[1].startswith(f"{venv}/bin/python -m pip install ")
    assert steps[-1].startswith(f"{venv}/bin/python -m pytest"), "the tests use that venv"
