"""Python packages made for tests: a fake package's files in a cached wheel, read without pip,
and a cut-down copy of an installed distribution for `pkg:` to read."""

from __future__ import annotations

import importlib.metadata
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.items import Item
from ingest.package_api import pypi_package
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

    .. versionadded:: 0.4

    Parameters
    ----------
    path : str
        Where the table lives.

    Examples
    --------
    >>> t = Table("/tmp/t")
    >>> t.count()
    3

    .. code-block:: python
        :caption: usage

        t = Table.for_path("/x")
        t.vacuum()
    """

    name: str
    _hidden: int = 0

    def __init__(self, path: str, version: int | None = None) -> None:
        """Open the table at path."""

    @property
    def size(self) -> int:
        """Number of rows."""

    @size.setter
    def size(self, value: int) -> None:
        pass

    @staticmethod
    def for_path(path: str) -> Table:
        """A table for a path."""

    def vacuum(self, retention_hours: float = 168.0) -> None:
        """Delete old files.

        .. versionadded:: 3.4.0

        .. versionchanged:: 3.5.0
            Supports Spark Connect.

        .. deprecated:: 4.0.0
            Use :meth:`Table.optimize` instead.

        Files older than the retention are removed.
        """

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


@since("1.0")
async def fetch_rows(n: int) -> list[int]:
    return []


def render(text: str) -> str:
    """Render markdown.

    >>> print(render("```sql"))
    ```sql
    """


def _hidden():
    """Not documented."""
'''

FILES = {
    "fakepkg/__init__.py": (
        '"""Fake package."""\n'
        "from ._impl import Engine\n"
        "from .core import run\n"
        "from .store.file_store import FileStore\n"
        "from os import path\n"
    ),
    "fakepkg/_impl.py": (
        "class Engine:\n    '''Runs things.'''\n\n    def start(self) -> None:\n        '''Start.'''\n\n\n"
        "class Internal:\n    '''Not re-exported.'''\n"
    ),
    "fakepkg/_secret.py": "def leak():\n    '''Private module, not re-exported.'''\n",
    "fakepkg/core.py": CORE,
    "fakepkg/sql/__init__.py": "from fakepkg.sql.frame import Frame\n\n__all__ = ['Frame']\n",
    "fakepkg/sql/frame.py": (
        "__all__ = ['Frame']\n\n\nclass Frame:\n    '''A frame.'''\n\n"
        "    def select(self, *cols):\n        '''Pick columns.'''\n\n    pick = select\n\n\n"
        "class Helper:\n    '''Public name, not exported.'''\n"
    ),
    "fakepkg/store/__init__.py": '"""Stores."""\n',
    "fakepkg/store/file_store.py": "class FileStore:\n    '''A store.'''\n",
    "fakepkg/server/handlers.py": "def handle():\n    '''A handler.'''\n",
    "fakepkg/sql/connect/frame.py": "class Frame:\n    def select(self, *cols): ...\n",
    "fakepkg/broken.py": "def ok(:\n    pass\n",
    "fakepkg/_broken.py": "def ok(:\n    pass\n",
}


# A package with deprecated entries in the forms PySpark and MLflow write them, and the
# replacement beside them.
LEGACY = {
    "fakepkg/__init__.py": (
        '"""Fake frames."""\nfrom fakepkg.frame import DataFrame, load_pyfunc, load_model\n'
    ),
    "fakepkg/frame.py": '''"""DataFrames of fakepkg."""

import warnings


class DataFrame:
    """A distributed collection of rows under named columns."""

    def registerTempTable(self, name: str) -> None:
        """Registers this DataFrame as a temporary table using the given name.

        The lifetime of this temporary table is tied to the session that created it.

        .. versionadded:: 1.3.0

        .. deprecated:: 2.0.0
            Use :meth:`DataFrame.createOrReplaceTempView` instead.
        """
        warnings.warn("Deprecated in 2.0, use createOrReplaceTempView instead.", FutureWarning)

    def createOrReplaceTempView(self, name: str) -> None:
        """Creates or replaces a local temporary view with this DataFrame.

        The lifetime of this temporary view is tied to the session that created it.

        .. versionadded:: 2.0.0
        """


@deprecated("fakepkg.load_model", 1.0)
def load_pyfunc(model_uri: str) -> object:
    """Loads a model stored in Python function format from a model URI."""


def load_model(model_uri: str) -> object:
    """Loads a model stored in Python function format from a model URI.

    Replaces the deprecated `load_pyfunc`.
    """
''',
}


def make_wheel(
    folder: Path, files: dict[str, str], name: str = "fakepkg", version: str = "1.0"
) -> Path:
    """A wheel of project `name` at `version`: files plus dist-info, in folder."""
    stem = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in files.items():
            zf.writestr(member, text)
        zf.writestr(f"{stem}.dist-info/METADATA", f"Name: {name}\nVersion: {version}\n")
        zf.writestr(f"{stem}.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        zf.writestr(f"{stem}.dist-info/RECORD", "")
    return path


def cache_wheel(cache: Path, files: dict[str, str]) -> str:
    """A fake package's wheel where `ingest` finds it already downloaded; its source spec."""
    folder = cache / "pypi" / "fakepkg-1.0"
    folder.mkdir(parents=True, exist_ok=True)
    make_wheel(folder, files)
    return "pypi:fakepkg==1.0"


def package_items(cache: Path, files: dict[str, str]) -> dict[str, Item]:
    """The items of a fake package read from a cached wheel, pip never run."""
    version, items = pypi_package(cache_wheel(cache, files), cache, timeout=5)
    assert version == "1.0"
    return {item.source: item for item in items}


def no_pip(*args: Any, **kwargs: Any) -> Any:
    """Stand-in for subprocess.run that fails the test if pip is run."""
    raise AssertionError("pip must not run when the archive is cached")


def entries(*documents: Document) -> dict[str, list[Block]]:
    """Each entry's blocks by symbol, checking that no entry is split or repeated."""
    found: dict[str, list[Block]] = {}
    previous = None
    for doc in documents:
        for block in doc.blocks:
            assert block.symbol and block.headings == ()
            if block.symbol != previous:
                assert block.symbol not in found, f"{block.symbol} appears twice"
                found[block.symbol] = []
            found[block.symbol].append(block)
            previous = block.symbol
    return found


def api_subset(site: Path, dist: str, modules: Sequence[str]) -> str:
    """A distribution in site holding some modules of an installed one, for `pkg:` to read;
    its name."""
    real = importlib.metadata.distribution(dist)
    name = f"lakesage-subset-{dist}"
    for rel in modules:
        source = Path(str(real.locate_file(rel)))
        assert source.is_file(), f"{dist} {real.version} has no {rel}; update API_MODULES"
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, site / rel)
    info = site / f"{name.replace('-', '_')}-{real.version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {real.version}\n", encoding="utf-8"
    )
    (info / "RECORD").write_text("".join(f"{rel},,\n" for rel in modules), encoding="utf-8")
    return name
