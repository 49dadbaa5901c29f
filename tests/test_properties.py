"""Hypothesis properties of the loaders and the chunker, with the embedder's real tokenizer."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import chunk_document
from ingest.loaders import load_bytes
from rag.errors import SourceError
from rag.models import Document
from tests.documents import make_pdf

# No example database: nothing is written into the repository, and runs stay independent.
settings.register_profile(
    "lakesage-properties",
    database=None,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("lakesage-properties")

# Pieces of markup each format gives meaning to, mixed with words and noise.
MARKUP = {
    "md": [
        "# ",
        "## ",
        "###### ",
        "```",
        "```python",
        "~~~",
        "- ",
        "1. ",
        "> ",
        "| a | b |",
        "|---|---|",
        "---",
        "***",
        "<div>",
        "</div>",
        "<!--",
        "-->",
        "[a](b)",
        "![i](p)",
        "`",
        "**",
        "{% highlight python %}",
        "{% endhighlight %}",
        "{{ x }}",
        "    ",
    ],
    "mdx": [
        "import X from 'y'",
        "export const a = {",
        "}",
        "<Tabs>",
        "</Tabs>",
        "<T a={1}>",
        ":::note",
        ":::",
        "{/* c */}",
        "<br/>",
        "```",
        "# ",
        "- ",
    ],
    "rst": [
        "=====",
        "-----",
        ".. code-block:: python",
        ".. note::",
        ".. toctree::",
        "::",
        ":ref:`x`",
        "``lit``",
        "`t <u>`_",
        "   ",
        "* ",
        "#. ",
        ".. _label:",
    ],
    "txt": ["\f", "\t", "    ", "- ", "1."],
    "html": [
        "<html>",
        "<head><title>",
        "</title></head>",
        "<body>",
        "<h1>",
        "</h1>",
        "<h3>",
        "<p>",
        "</p>",
        "<pre><code class='language-sql'>",
        "</code></pre>",
        "<table>",
        "<tr><td>",
        "</td></tr>",
        "<script>",
        "</script>",
        "<ul><li>",
        "&amp;",
        "&#x",
        "<!--",
        "<",
        ">",
        "</",
        "<a href='x'>",
        "</a>",
    ],
}
WORDS = ["delta", "spark", "MERGE", "INTO", "df.write", "x", "é", "日本", "a.b.c", "0", "\u200b"]


def markup_text(fmt: str) -> st.SearchStrategy[str]:
    """Text built from a format's markup, words, whitespace and arbitrary characters."""
    piece = st.one_of(
        st.sampled_from(MARKUP[fmt]),
        st.sampled_from(WORDS),
        st.sampled_from([" ", "\n", "\n\n", "\r\n"]),
        st.text(max_size=12),
    )
    return st.lists(piece, max_size=120).map("".join)


def json_values() -> st.SearchStrategy[Any]:
    """Arbitrary JSON values."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )


def notebook_like() -> st.SearchStrategy[str]:
    """Notebook-shaped JSON with arbitrary cells, arbitrary JSON, or broken JSON text."""
    cell = st.fixed_dictionaries(
        {
            "cell_type": st.sampled_from(["markdown", "code", "raw", "other", 3]),
            "source": st.one_of(markup_text("md"), st.lists(st.text(max_size=20)), json_values()),
        }
    )
    notebook = st.fixed_dictionaries(
        {"cells": st.lists(st.one_of(cell, json_values()), max_size=6)},
        optional={"metadata": json_values(), "nbformat": json_values()},
    )
    as_text = st.one_of(notebook, json_values()).map(json.dumps)
    return st.one_of(
        as_text, as_text.flatmap(lambda t: st.integers(0, len(t)).map(lambda n: t[:n]))
    )


def parses_or_refuses(data: bytes, source: str) -> Document | None:
    """load_bytes, where a one-line SourceError naming the source is the only allowed failure."""
    try:
        doc = load_bytes(data, source)
    except SourceError as exc:
        assert str(exc).startswith(f"{source}: "), str(exc)
        assert "\n" not in str(exc)
        return None
    assert doc.title and doc.blocks and all(b.text.strip() for b in doc.blocks)
    return doc


@pytest.mark.parametrize("fmt", ["md", "mdx", "rst", "txt", "html"])
@settings(PROFILE)
@given(data=st.data())
def test_text_formats_never_raise_anything_else(fmt: str, data: st.DataObject) -> None:
    text = data.draw(st.one_of(markup_text(fmt), st.text(max_size=300)))
    parses_or_refuses(text.encode("utf-8", "surrogatepass"), f"doc.{fmt}")


@settings(PROFILE)
@given(text=notebook_like())
def test_notebooks_never_raise_anything_else(text: str) -> None:
    parses_or_refuses(text.encode("utf-8", "surrogatepass"), "nb.ipynb")


def databricks_like() -> st.SearchStrategy[str]:
    """Databricks notebook source text: the header, then lines of cells, magic, titles and
    separators in any order, any prefix, mixed with words and noise."""
    prefix = st.sampled_from(["#", "--", "//"])
    line = st.one_of(
        st.sampled_from(["MAGIC %md", "MAGIC %sql", "MAGIC %run ./x", "MAGIC", "MAGIC %"]),
        st.sampled_from(["COMMAND ----------", "DBTITLE 1,Title", "MAGIC # Heading"]),
        markup_text("md").map(lambda t: t.replace("\n", " ")),
    )
    lines = st.lists(st.tuples(st.booleans(), prefix, line), max_size=12)
    return st.tuples(prefix, lines).map(
        lambda p: (
            f"{p[0]} Databricks notebook source\n"
            + "\n".join(f"{pre} {text}" if prefixed else text for prefixed, pre, text in p[1])
        )
    )


@settings(PROFILE)
@given(text=databricks_like(), suffix=st.sampled_from([".py", ".sql", ".scala", ".r"]))
def test_databricks_notebooks_never_raise_anything_else(text: str, suffix: str) -> None:
    doc = parses_or_refuses(text.encode("utf-8", "surrogatepass"), f"nb{suffix}")
    if doc is not None:
        own = re.escape(text.split(" ", 1)[0])  # another language's prefix is only code here
        joined = "\n".join(b.text for b in doc.blocks)
        assert not re.search(f"^{own} (MAGIC|COMMAND -)", joined, re.MULTILINE)


PDF = make_pdf([["Delta Lake tables", "keep a transaction log."], ["Page two."]])


@settings(PROFILE, max_examples=25)
@given(
    suffix=st.sampled_from([".md", ".mdx", ".rst", ".txt", ".html", ".ipynb", ".pdf", ".py"]),
    data=st.one_of(
        st.binary(max_size=600),
        st.tuples(st.integers(0, len(PDF)), st.binary(max_size=40)).map(
            lambda cut: PDF[: cut[0]] + cut[1] + PDF[cut[0] + len(cut[1]) :]  # a damaged PDF
        ),
    ),
)
def test_arbitrary_bytes_never_raise_anything_else(suffix: str, data: bytes) -> None:
    parses_or_refuses(data, f"blob{suffix}")


FENCE_LINE = re.compile(r"^[ \t]*`{3,}[^`\s]*[ \t]*$", re.MULTILINE)


def squashed(text: str) -> str:
    """Text without fence lines, backticks or whitespace: what chunking must neither drop nor add."""
    return re.sub(r"[\s`]+", "", FENCE_LINE.sub("", text))


def long_words() -> st.SearchStrategy[str]:
    """Words the tokenizer splits hard: long runs, CJK, base64-like noise, code."""
    return st.one_of(
        st.sampled_from(WORDS),
        st.text(alphabet="abcxyz0189+/=", min_size=1, max_size=300),
        st.text(alphabet="数据湖仓表", min_size=1, max_size=200),
        st.text(alphabet="数据湖+/=xyz", min_size=300, max_size=1500),  # one run past the limit
        st.text(min_size=1, max_size=30).filter(lambda w: not w.isspace()),
    )


def documents() -> st.SearchStrategy[str]:
    """Markdown with headings, prose of hard words, long lines and code blocks."""
    prose = st.lists(long_words(), min_size=1, max_size=50).map(" ".join)
    code = st.lists(st.lists(long_words(), max_size=12).map(" ".join), min_size=1, max_size=25)
    block = st.one_of(
        st.tuples(st.sampled_from(["", "# ", "## ", "### "]), prose).map("".join),
        code.map(lambda lines: "```python\n" + "\n".join(lines) + "\n```"),
    )
    return st.lists(block, min_size=1, max_size=8).map("\n\n".join)


@settings(PROFILE, max_examples=30)
@given(text=documents())
def test_chunks_fit_the_model_and_cover_the_text(embedder: Any, text: str) -> None:
    doc = parses_or_refuses(text.encode("utf-8", "surrogatepass"), "guide.md")
    if doc is None:
        return
    limit = embedder.max_tokens
    chunks = chunk_document(doc, "origin", embedder.count_tokens, limit)
    assert chunks
    assert max(embedder.count_tokens([c.embed_text for c in chunks])) <= limit
    # Every non-space character of the parsed blocks is in the chunks, in order, and no more.
    assert squashed("\n\n".join(c.text for c in chunks)) == squashed(
        "\n\n".join(b.text for b in doc.blocks)
    )
