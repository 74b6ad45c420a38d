"""pyproject.toml is the one packaging file: its package list covers src/, and the version has one home."""

from __future__ import annotations

from pathlib import Path

import pytest

import unimumo

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_under_src_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT / "src").parts) for p in (ROOT / "src").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
    assert listed - found == {"unimumo.ds_configs"}


def test_version_has_one_home():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in pyproject and "version" in pyproject["dynamic"]
    assert not (ROOT / "setup.py").exists() and not (ROOT / "pytest.ini").exists()
    assert unimumo.__version__.count(".") == 2
