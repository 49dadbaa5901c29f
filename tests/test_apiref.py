"""API reference read with `ast` from wheels, sdists and installs, never importing the package."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ingest import apiref
from ingest.apiref import PARAGRAPH_CHARS, installed_package, pypi_package
from rag.errors import SourceError
from rag.models import Block, Document

CORE = '''\
"""Core tools.

Second paragraph of the module docstring.
"""

from __future__ import annotations

import functools
from typing import overload


def _private_decorator(func):
    return func


class Table(Base, metaclass=Meta):
    """A table.

    Parameters
    ----------
    path : str
        Where the table lives.
    version : int, optional
        Which version to read.

    Examples
    --------
    >>> t = Table("/tmp/t")
    >>> t.count()
    3

    .. code-block:: python
        :caption: usage

        t = Table.for_path("/x")
        t.vacuum()

    Reading it back::

        spark.read.format("delta").load("/x")
    """

    name: str
    _hidden: int = 0

    def __init__(self, path: str, version: int | None = None) -> None:
        """Open the table at path."""

    @property
    def size(self) -> int:
        """Number of rows."""

    @staticmethod
    def for_path(path: str) -> Table:
        """A table for a path."""

    def vacuum(self, retention_hours: float = 168.0) -> None:
        pass

    def _internal(self):
        """Hidden."""

    @overload
    def get(self, key: int) -> str: ...

    @overload
    def get(self, key: str) -> int: ...

    def get(self, key):
        """Get a value."""

    class Options:
        """Nested options."""

        def merge(self, other: Options) -> Options:
            """Merge two options."""


@_private_decorator
@functools.lru_cache(maxsize=None)
def run(query: str, *args: str, limit: int = 10, **kwargs: object) -> list[str]:
    """Run a query.

    Args:
        query: The SQL text.
        limit: Most rows returned.
    """


async def fetch_rows(n: int) -> list[int]:
    return []


def _hidden():
    """Not documented."""
'''

IMPL = """\
class Engine:
    '''Runs things.'''

    def start(self) -> None:
        '''Start.'''


class Internal:
    '''Not re-exported.'''


def helper():
    '''Not re-exported.'''
"""

FILES = {
    "fakepkg/__init__.py": '"""Fake package."""\nfrom ._impl import Engine\nfrom . import core\n',
    "fakepkg/_impl.py": IMPL,
    "fakepkg/_secret.py": "def leak():\n    '''Private module, not re-exported.'''\n",
    "fakepkg/core.py": CORE,
    "fakepkg/constants.py": "X = 1\n_Y = 2\n",
    "fakepkg/util/__init__.py": "",
    "fakepkg/broken.py": "def ok(:\n    pass\n",
    "fakepkg/tests/test_core.py": "def test_it():\n    '''A test.'''\n",
    "fakepkg/_vendor/six.py": "def vendored():\n    '''Vendored.'''\n",
    "fakepkg/conftest.py": "def fixture():\n    '''Fixture.'''\n",
    "fakepkg/proto/table_pb2.py": '"""Generated protocol buffer code."""\n',
}
EXPECTED = ["fakepkg/__init__.py", "fakepkg/_impl.py", "fakepkg/broken.py", "fakepkg/core.py"]


def make_wheel(folder: Path, files: dict[str, str]) -> Path:
    """A wheel of files (plus dist-info) in folder."""
    path = folder / "fakepkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("fakepkg-1.0.dist-info/METADATA", "Name: fakepkg\nVersion: 1.0\n")
        zf.writestr("fakepkg-1.0.dist-info/RECORD", "")
    return path


def make_sdist(folder: Path, files: dict[str, str]) -> Path:
    """An sdist with a src/ layout, setup.py, docs and top-level tests."""
    extra = {
        "setup.py": "def setup():\n    '''Setup.'''\n",
        "docs/conf.py": "def setup(app):\n    '''Sphinx.'''\n",
        "tests/test_top.py": "def test_top():\n    '''Test.'''\n",
        "PKG-INFO": "Name: fakepkg\n",
    }
    members = {f"src/{name}": text for name, text in files.items()} | extra
    path = folder / "fakepkg-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"fakepkg-1.0/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def no_pip(*args: Any, **kwargs: Any) -> Any:
    """Stand-in for subprocess.run that fails the test if pip is run."""
    raise AssertionError("pip must not run when the archive is cached")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache folder."""
    return tmp_path / "cache"


@pytest.fixture(params=["wheel", "sdist"])
def fake_items(request: pytest.FixtureRequest, cache: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Items of the fake package read from a cached wheel or sdist, pip never run."""
    folder = cache / "pypi" / "fakepkg-1.0"
    folder.mkdir(parents=True)
    (make_wheel if request.param == "wheel" else make_sdist)(folder, FILES)
    monkeypatch.setattr(subprocess, "run", no_pip)
    version, items = pypi_package("pypi:fakepkg==1.0", cache, timeout=5)
    assert version == "1.0"
    return {item.source: item for item in items}


def load(items: dict[str, Any], source: str) -> Document:
    """Parse one item."""
    document = items[source].load()
    assert isinstance(document, Document)
    return document


def under(document: Document, *heads: str) -> list[Block]:
    """The blocks with exactly these headings."""
    return [block for block in document.blocks if block.headings == heads]


def test_archive_modules_are_chosen_without_import(fake_items: dict[str, Any]) -> None:
    assert sorted(fake_items) == EXPECTED
    assert "fakepkg" not in sys.modules
    core = FILES["fakepkg/core.py"].encode()
    assert fake_items["fakepkg/core.py"].fingerprint == hashlib.sha256(core).hexdigest()


def test_module_document(fake_items: dict[str, Any]) -> None:
    doc = load(fake_items, "fakepkg/core.py")
    assert (doc.title, doc.format, doc.version, doc.source) == (
        "fakepkg.core",
        "py",
        "1.0",
        "fakepkg/core.py",
    )
    assert [b.text for b in under(doc)] == [
        "Core tools.",
        "Second paragraph of the module docstring.",
    ]
    headings = {block.headings for block in doc.blocks}
    assert not any(part.startswith("_") for heads in headings for part in heads)


def test_class_signature_merges_init_and_fields(fake_items: dict[str, Any]) -> None:
    blocks = under(load(fake_items, "fakepkg/core.py"), "Table")
    assert blocks[0].code
    assert blocks[0].text == (
        "```python\n"
        "class Table(Base, metaclass=Meta):\n"
        "    def __init__(self, path: str, version: int | None=None) -> None\n"
        "    name: str\n"
        "```"
    )
    prose = [b.text for b in blocks if not b.code]
    assert prose[0] == "A table."
    assert prose[1].startswith("Parameters\n----------\npath : str\n    Where the table lives.")
    assert "Examples\n--------" in prose
    assert prose[-1] == "Open the table at path."


def test_docstring_code_is_kept_as_code(fake_items: dict[str, Any]) -> None:
    code = [b.text for b in under(load(fake_items, "fakepkg/core.py"), "Table") if b.code][1:]
    assert code == [
        '```python\n>>> t = Table("/tmp/t")\n>>> t.count()\n3\n```',
        '```python\nt = Table.for_path("/x")\nt.vacuum()\n```',
        '```python\nspark.read.format("delta").load("/x")\n```',
    ]
    prose = [b.text for b in under(load(fake_items, "fakepkg/core.py"), "Table") if not b.code]
    assert "Reading it back:" in prose


def test_methods_and_functions(fake_items: dict[str, Any]) -> None:
    doc = load(fake_items, "fakepkg/core.py")
    texts = {
        heads: [b.text for b in doc.blocks if b.headings == heads]
        for heads in [
            ("Table", "size"),
            ("Table", "for_path"),
            ("Table", "vacuum"),
            ("Table", "get"),
        ]
    }
    assert texts[("Table", "size")] == [
        "```python\n@property\ndef size(self) -> int\n```",
        "Number of rows.",
    ]
    assert texts[("Table", "for_path")][0] == (
        "```python\n@staticmethod\ndef for_path(path: str) -> Table\n```"
    )
    assert texts[("Table", "vacuum")] == [
        "```python\ndef vacuum(self, retention_hours: float=168.0) -> None\n```"
    ]
    assert texts[("Table", "get")] == ["```python\ndef get(self, key)\n```", "Get a value."]
    assert [b.text for b in under(doc, "Table", "Options", "merge")][1] == "Merge two options."
    run = under(doc, "run")
    assert run[0].text == (
        "```python\n@functools.lru_cache(maxsize=None)\n"
        "def run(query: str, *args: str, limit: int=10, **kwargs: object) -> list[str]\n```"
    )
    assert run[2].text == "Args:\n    query: The SQL text.\n    limit: Most rows returned."
    assert under(doc, "fetch_rows")[0].text == (
        "```python\nasync def fetch_rows(n: int) -> list[int]\n```"
    )
    assert not under(doc, "Table", "_internal") and not under(doc, "_hidden")


def test_reexported_private_module_documents_only_those_names(fake_items: dict[str, Any]) -> None:
    doc = load(fake_items, "fakepkg/_impl.py")
    assert {block.headings for block in doc.blocks} == {("Engine",), ("Engine", "start")}


def test_syntax_error_names_the_module(fake_items: dict[str, Any]) -> None:
    with pytest.raises(SourceError, match=r"^fakepkg/broken\.py: syntax error at line 1"):
        fake_items["fakepkg/broken.py"].load()


def test_long_parameter_sections_are_split() -> None:
    params = "\n".join(
        f"    p{i} : int\n        The parameter number {i} of many." for i in range(60)
    )
    source = f'def many():\n    """Many.\n\n    Parameters\n    ----------\n{params}\n    """\n'
    doc = apiref.parse_module("pkg/many.py", source.encode())
    prose = [b.text for b in doc.blocks if not b.code][1:]
    assert len(prose) >= 3
    assert all(len(text) <= PARAGRAPH_CHARS for text in prose)
    assert prose[0].startswith("Parameters\n----------\np0 : int")
    assert "\n".join(prose).count("The parameter number") == 60


def test_markdown_fences_in_docstrings_stay_whole() -> None:
    doc = "Use it:\n\n```python\nx = 1\n\ny = 2\n```\nAfter."
    assert apiref.split_docstring(doc) == [
        ("Use it:", False),
        ("```python\nx = 1\n\ny = 2\n```", True),
        ("After.", False),
    ]


def test_big_modules_are_skipped(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = cache / "pypi" / "fakepkg-1.0"
    folder.mkdir(parents=True)
    big = "def huge():\n    '''Huge.'''\n" + "# padding\n" * 600_000
    make_wheel(folder, {"fakepkg/small.py": "def small():\n    pass\n", "fakepkg/big.py": big})
    monkeypatch.setattr(subprocess, "run", no_pip)
    _, items = pypi_package("pypi:fakepkg==1.0", cache, timeout=5)
    assert [item.source for item in items] == ["fakepkg/small.py"]


def test_installed_pypdf() -> None:
    version, items = installed_package("pypdf")
    assert version == importlib.metadata.version("pypdf")
    by_source = {item.source: item for item in items}
    assert "pypdf/__init__.py" in by_source and "pypdf/_reader.py" in by_source
    assert not [s for s in by_source if "/tests/" in s or "_vendor" in s]
    doc = by_source["pypdf/_reader.py"].load()
    assert doc.title == "pypdf._reader" and doc.version == version
    reader = under(doc, "PdfReader")
    assert reader[0].code and "class PdfReader(" in reader[0].text
    assert "def __init__(self, stream:" in reader[0].text
    assert "Initialize a PdfReader object." in [b.text for b in reader]
    decrypt = under(doc, "PdfReader", "decrypt")
    assert decrypt[0].code and "def decrypt(self, password: str | bytes)" in decrypt[0].text
    assert any(not b.code and "password" in b.text.lower() for b in decrypt[1:])


def test_package_not_installed() -> None:
    with pytest.raises(SourceError) as info:
        installed_package("lakesage-no-such-package-xyz")
    assert str(info.value) == (
        "pkg:lakesage-no-such-package-xyz: not installed; pip install lakesage-no-such-package-xyz "
        "or use pypi:lakesage-no-such-package-xyz==VERSION"
    )


@pytest.mark.parametrize(
    "spec",
    [
        "pypi:delta-spark",
        "pypi:delta-spark>=4.0",
        "pypi:",
        "pypi:--index-url=http://evil.example==1.0",
        "pypi:delta-spark==4.0; echo hi",
    ],
)
def test_bad_pypi_spec(spec: str, cache: Path) -> None:
    with pytest.raises(SourceError, match=r"expected pypi:NAME==VERSION"):
        pypi_package(spec, cache, timeout=5)


def test_pip_failure_reports_its_last_error(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def failing(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        stderr = "Looking in indexes\nERROR: first\nERROR: No matching distribution found\n"
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(subprocess, "run", failing)
    with pytest.raises(SourceError) as info:
        pypi_package("pypi:fakepkg==1.0", cache, timeout=5)
    assert (
        str(info.value) == "pypi:fakepkg==1.0: pip download failed: No matching distribution found"
    )
    assert calls[0][-3:] == ["--only-binary", ":all:", "fakepkg==1.0"]
    assert "--only-binary" not in calls[1] and calls[1][-1] == "fakepkg==1.0"
    assert calls[0][:4] == [sys.executable, "-m", "pip", "download"]
    assert not list((cache / "pypi").iterdir())  # no temp folder left behind


def test_pip_timeout(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(command: list[str], **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", slow)
    with pytest.raises(SourceError, match=r"^pypi:fakepkg==1.0: pip download timed out after 5 s$"):
        pypi_package("pypi:fakepkg==1.0", cache, timeout=5)


@pytest.mark.network
def test_real_pip_download_then_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version, items = pypi_package("pypi:delta-spark==4.0.0", cache, timeout=120)
    assert version == "4.0.0"
    assert list((cache / "pypi" / "delta-spark-4.0.0").glob("*.whl"))
    doc = next(item for item in items if item.source == "delta/tables.py").load()
    assert doc.title == "delta.tables"
    assert "class DeltaTable(" in under(doc, "DeltaTable")[0].text
    for_path = under(doc, "DeltaTable", "forPath")
    assert "def forPath(" in for_path[0].text and len(for_path) > 1
    monkeypatch.setattr(subprocess, "run", no_pip)
    assert [i.source for i in pypi_package("pypi:delta-spark==4.0.0", cache, timeout=5)[1]] == [
        i.source for i in items
    ]


@pytest.mark.network
def test_real_pip_failure(cache: Path) -> None:
    with pytest.raises(SourceError, match=r"pip download failed: .*lakesage-no-such-package-xyz"):
        pypi_package("pypi:lakesage-no-such-package-xyz==1.0", cache, timeout=120)
