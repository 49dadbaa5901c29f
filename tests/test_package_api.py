"""A package's API-reference items: the files that hold public entries, fingerprinted with the
parser and the public names, the public API worked out once per package content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest import apiref, package_api
from rag.errors import SourceError
from tests.fake_packages import FILES, entries, no_pip, package_items


def test_items_are_the_files_holding_public_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "run", no_pip)
    items = package_items(tmp_path, FILES)
    assert sorted(items) == [
        "fakepkg/__init__.py",
        "fakepkg/_impl.py",
        "fakepkg/broken.py",
        "fakepkg/core.py",
        "fakepkg/sql/frame.py",
    ]
    assert "fakepkg" not in sys.modules


def test_fingerprints_follow_the_parser_and_the_public_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "run", no_pip)
    first = package_items(tmp_path / "a", FILES)
    assert package_items(tmp_path / "b", FILES)["fakepkg/core.py"].fingerprint == (
        first["fakepkg/core.py"].fingerprint
    )
    monkeypatch.setattr(apiref, "PARSER_VERSION", "apiref-next")
    again = package_items(tmp_path / "c", FILES)
    assert all(again[s].fingerprint != first[s].fingerprint for s in first)
    monkeypatch.undo()
    monkeypatch.setattr(subprocess, "run", no_pip)
    # frame.py is unchanged, but its class is no longer re-exported: its public name changed.
    unexported = FILES | {"fakepkg/sql/__init__.py": "__all__ = []\n"}
    renamed = package_items(tmp_path / "d", unexported)
    assert renamed["fakepkg/sql/frame.py"].fingerprint != first["fakepkg/sql/frame.py"].fingerprint
    assert next(iter(entries(renamed["fakepkg/sql/frame.py"].load()))) == "fakepkg.sql.frame.Frame"


def test_the_public_api_is_worked_out_once_per_package_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "run", no_pip)
    first = package_items(tmp_path, FILES)
    (cached,) = (tmp_path / "apiref").glob("*.json")

    def fail(files: Any) -> Any:
        raise AssertionError("the cached public API must be read back")

    with monkeypatch.context() as patched:
        patched.setattr(package_api, "public_api", fail)
        again = package_items(tmp_path, FILES)
    assert {s: i.fingerprint for s, i in again.items()} == {
        s: i.fingerprint for s, i in first.items()
    }
    assert entries(again["fakepkg/sql/frame.py"].load()) == entries(
        first["fakepkg/sql/frame.py"].load()
    )
    cached.write_text("[not, json")
    assert package_items(tmp_path, FILES).keys() == first.keys()  # worked out again
    assert cached.read_text().startswith("{")


def test_a_package_without_public_api_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "run", no_pip)
    with pytest.raises(SourceError, match=r"^pypi:fakepkg==1.0: no public Python API found$"):
        package_items(tmp_path, {"fakepkg/_impl.py": "def f(): ...\n"})
