"""The package version has one source, qa_app/version.py: the installed metadata and pyproject.toml follow it."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import qa_app
from qa_app import version as version_module

ROOT = Path(__file__).resolve().parents[1]


def test_installed_metadata_version_is_the_package_version() -> None:
    assert version("qa-app") == qa_app.__version__ == version_module.__version__


def test_pyproject_reads_the_version_from_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"]  # no second copy to forget
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "qa_app.version.__version__"}
