"""The public API rule: `__all__`, re-exports, implementation namespaces, shortest names."""

from __future__ import annotations

import pytest

from ingest.public_api import is_public_module, module_name, public_api


def api(files: dict[str, str]) -> dict[str, dict[str, str]]:
    """The public names per file of a package given as source texts."""
    found = public_api({path: text.encode() for path, text in files.items()})
    return {path: entry.names for path, entry in found.items() if entry.names}


def test_all_decides_a_modules_public_names() -> None:
    found = api(
        {
            "pkg/__init__.py": "",
            "pkg/frame.py": (
                "__all__ = ['Frame']\n__all__ += ['load']\n__all__.append('save')\n"
                "class Frame: ...\nclass Helper: ...\ndef load(): ...\ndef save(): ...\n"
                "def other(): ...\n"
            ),
        }
    )
    assert found == {
        "pkg/frame.py": {
            "Frame": "pkg.frame.Frame",
            "load": "pkg.frame.load",
            "save": "pkg.frame.save",
        }
    }


def test_without_all_a_module_exposes_what_it_defines_not_what_it_imports() -> None:
    found = api(
        {
            "pkg/__init__.py": "",
            "pkg/core.py": "from pkg.frame import Frame\ndef run(): ...\ndef _hidden(): ...\n",
            "pkg/frame.py": "__all__ = []\nclass Frame: ...\n",
        }
    )
    assert found["pkg/core.py"] == {"run": "pkg.core.run"}
    assert found["pkg/frame.py"] == {"Frame": "pkg.frame.Frame"}  # an empty __all__ is unknown


def test_reexports_from_private_modules_are_public_under_the_package() -> None:
    found = api(
        {
            "pkg/__init__.py": "from ._impl import Engine\nfrom pkg._impl import start as begin\n",
            "pkg/_impl.py": "class Engine: ...\ndef start(): ...\nclass Internal: ...\n",
            "pkg/_secret.py": "def leak(): ...\n",
        }
    )
    assert found == {"pkg/_impl.py": {"Engine": "pkg.Engine", "start": "pkg.begin"}}


def test_star_imports_and_all_of_another_module() -> None:
    found = api(
        {
            "pkg/__init__.py": "",
            "pkg/functions/__init__.py": (
                "from pkg.functions.builtin import *\nfrom pkg.functions import builtin\n"
                "__all__ = builtin.__all__ + ['extra']\n"
                "def extra(): ...\n"
            ),
            "pkg/functions/builtin.py": "__all__ = ['col']\ndef col(): ...\ndef lit(): ...\n",
        }
    )
    assert found["pkg/functions/builtin.py"] == {"col": "pkg.functions.col"}
    assert found["pkg/functions/__init__.py"] == {"extra": "pkg.functions.extra"}


def test_the_shortest_public_path_names_a_definition() -> None:
    found = public_api(
        {
            "pkg/__init__.py": b"",
            "pkg/sql/__init__.py": b"from pkg.sql.dataframe import DataFrame\n__all__ = ['DataFrame']",
            "pkg/sql/dataframe.py": b"__all__ = ['DataFrame']\nclass DataFrame: ...\n",
            "pkg/ml/__init__.py": b"from pkg.sql.dataframe import DataFrame\n",
        }
    )
    entry = found["pkg/sql/dataframe.py"]
    assert entry.names == {"DataFrame": "pkg.sql.DataFrame"}
    # pkg.ml imports it to use it, not to re-export it: not one of its names.
    assert entry.also == {"DataFrame": ("pkg.sql.dataframe.DataFrame",)}


def test_equal_length_names_prefer_the_one_nearest_the_definition() -> None:
    found = public_api(
        {
            "pkg/__init__.py": b"",
            "pkg/models/__init__.py": b"from pkg.models.model import Model\n__all__ = ['Model']\n",
            "pkg/models/model.py": b"__all__ = []\nclass Model: ...\n",
            "pkg/flavor/__init__.py": b"from pkg.models.model import Model\n__all__ = ['Model']\n",
        }
    )
    assert found["pkg/models/model.py"].names == {"Model": "pkg.models.Model"}


@pytest.mark.parametrize(
    "path",
    [
        "pkg/store/tracking/file_store.py",
        "pkg/server/handlers.py",
        "pkg/backends/local.py",
        "pkg/protos/service.py",
        "pkg/sql/connect/dataframe.py",
        "pkg/gateway/providers/openai.py",
        "pkg/utils/file_utils.py",
        "pkg/models/scoring_server.py",
        "pkg/_private/core.py",
    ],
)
def test_implementation_namespaces_are_not_public(path: str) -> None:
    assert not is_public_module(module_name(path))
    assert api({"pkg/__init__.py": "", path: "class Thing: ...\ndef helper(): ...\n"}) == {}


def test_implementation_names_reexported_in_all_stay_public() -> None:
    found = api(
        {
            "pkg/__init__.py": "from pkg.utils.lazy import Loader\n__all__ = ['Loader']\n",
            "pkg/utils/lazy.py": "class Loader: ...\n",
            "pkg/flavor/__init__.py": "from pkg.utils.lazy import Loader\nfrom .store import Keep\n",
            "pkg/flavor/store.py": "class Keep: ...\n",
        }
    )
    assert found == {"pkg/utils/lazy.py": {"Loader": "pkg.Loader"}}


def test_type_checking_imports_are_not_reexports() -> None:
    found = api(
        {
            "pkg/__init__.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._impl import Engine\n"
            ),
            "pkg/_impl.py": "class Engine: ...\n",
        }
    )
    assert found == {}


def test_modules_with_docstrings_are_entries_and_broken_public_modules_are_reported() -> None:
    found = public_api(
        {
            "pkg/__init__.py": b'"""The package."""\n',
            "pkg/broken.py": b"def ok(:\n",
            "pkg/_broken.py": b"def ok(:\n",
            "pkg/server/__init__.py": b'"""The server."""\n',
        }
    )
    assert sorted(found) == ["pkg/__init__.py", "pkg/broken.py"]
    assert found["pkg/__init__.py"].module == "pkg"
    assert found["pkg/broken.py"].error == "syntax error at line 1: invalid syntax"


def test_cycles_of_imports_end() -> None:
    found = api(
        {
            "pkg/__init__.py": "from pkg.a import *\nfrom pkg.b import x\n",
            "pkg/a.py": "from pkg.b import *\nfrom pkg import x\n",
            "pkg/b.py": "from pkg.a import *\nfrom pkg.a import x\n",
        }
    )
    assert found == {}
