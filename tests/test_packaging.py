"""The wheel holds every file the code reads: a hub or kiosk installed with ``pip install`` (not ``-e``)
works like the checkout.

``package-data`` globs do not descend into folders, so a new folder of
files (the dashboard's ``lib/`` and ``pages/`` were one) is left out of the
wheel silently, and the dashboard then loads without its scripts. This
builds the wheel from a copy of the sources, offline (the installed
setuptools and wheel), and compares it with the files in the packages.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "i18n", "biometrics", "kiosk", "hub", "hardware", "provisioning", "devtools")
# Read by people or by the Makefile from the checkout, never by the installed code.
NOT_INSTALLED = {"devtools/ensure_system.sh"}


def package_files(root: Path) -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (root / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".md"):
                found.add(path.relative_to(root).as_posix())
    return found - NOT_INSTALLED


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    pytest.importorskip("wheel", reason="the `wheel` package (dev extra) builds the wheel offline")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as built:
        return set(built.namelist())


def test_the_wheel_holds_every_package_file(wheel_names):
    missing = sorted(package_files(ROOT) - wheel_names)
    assert not missing, f"{len(missing)} files the code may read are not in the wheel: {missing[:20]}"


def test_the_dashboard_scripts_are_in_the_wheel(wheel_names):
    """The case that was missing: every script module the dashboard page imports."""
    from tests.test_dashboard_assets import module_graph

    scripts = {f"hub/static/dashboard/{name}" for name in module_graph()}
    assert scripts and scripts <= wheel_names, sorted(scripts - wheel_names)
