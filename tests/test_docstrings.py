"""Docstrings as paragraphs, code blocks and version notes; code fences that never break."""

from __future__ import annotations

from ingest.docstrings import PARAGRAPH_CHARS, split_docstring, version_notes
from ingest.fence import FENCED, fenced

DOC = """\
Repartition the frame.

.. versionadded:: 1.3.0

.. versionchanged:: 3.4.0
    Supports Spark Connect.

Parameters
----------
n : int
    Partitions.

    .. deprecated:: 4.0.0
       Use :meth:`~pkg.Frame.coalesce` or
       :func:`pkg.shuffle` instead.

.. versionchanged:: 2.0 Inline text.
"""


def test_version_notes_are_rendered_and_taken_out_of_the_text() -> None:
    notes, rest = version_notes(DOC)
    assert notes == [
        "New in version 1.3.0.",
        "Changed in version 3.4.0: Supports Spark Connect.",
        "Deprecated since version 4.0.0: Use `pkg.Frame.coalesce` or `pkg.shuffle` instead.",
        "Changed in version 2.0: Inline text.",
    ]
    assert ".." not in rest
    assert rest == "Repartition the frame.\n\nParameters\n----------\nn : int\n    Partitions."


def test_no_notes_leaves_the_docstring_alone() -> None:
    assert version_notes("Just text.\n\n.. note:: Keep me.") == (
        [],
        "Just text.\n\n.. note:: Keep me.",
    )


def test_docstring_pieces_code_and_prose() -> None:
    doc = (
        "Intro.\n\n>>> df.count()\n3\n\n.. code-block:: python\n    :caption: usage\n\n"
        "    t = Table()\n\nReading it back::\n\n    spark.read.load('/x')\n"
    )
    assert split_docstring(doc) == [
        ("Intro.", False),
        ("```python\n>>> df.count()\n3\n```", True),
        ("```python\nt = Table()\n```", True),
        ("Reading it back:", False),
        ("```python\nspark.read.load('/x')\n```", True),
    ]


def test_markdown_fences_in_docstrings_stay_whole() -> None:
    doc = "Use it:\n\n```python\nx = 1\n\ny = 2\n```\nAfter."
    assert split_docstring(doc) == [
        ("Use it:", False),
        ("```python\nx = 1\n\ny = 2\n```", True),
        ("After.", False),
    ]


def test_docstring_fences_are_fenced_again_whole_and_closed() -> None:
    doc = (
        "Title\n~~~~~\n\nNested:\n\n  ````md\n  ```python\n  x = 1\n  ```\n  ````\n\n"
        "Left open:\n\n```python\nx = 1\n"
    )
    pieces = split_docstring(doc)
    assert pieces == [
        ("Title\n~~~~~", False),  # a reST underline, not a ~~~ fence
        ("Nested:", False),
        ("````md\n```python\nx = 1\n```\n````", True),
        ("Left open:", False),
        ("```python\nx = 1\n```", True),
    ]
    assert all(FENCED.match(text) for text, code in pieces if code)


def test_inline_triple_backticks_starting_a_line_are_prose() -> None:
    doc = "Set it.\n\n```spark.conf.set('a', 'b')``` sets it.\n\nMore prose."
    assert split_docstring(doc) == [
        ("Set it.", False),
        ("```spark.conf.set('a', 'b')``` sets it.", False),
        ("More prose.", False),
    ]


def test_code_holding_a_fence_gets_a_longer_one() -> None:
    doc = 'Print markdown.\n\n>>> print("```sql")\n```sql\n>>> print("````")\n````'
    pieces = split_docstring(doc)
    code = pieces[1][0]
    assert code.startswith("`````python\n>>> print") and code.endswith("\n`````")
    match = FENCED.match(code)
    assert match and match["info"] == "python" and match["code"].count("\n") == 3


def test_fenced() -> None:
    assert fenced("x = 1", "python") == "```python\nx = 1\n```"
    assert fenced("a ``` b") == "````\na ``` b\n````"


def test_long_parameter_sections_are_split() -> None:
    params = "\n".join(f"p{i} : int\n    The parameter number {i} of many." for i in range(60))
    prose = [t for t, code in split_docstring(f"Many.\n\nParameters\n----------\n{params}")][1:]
    assert len(prose) >= 3
    assert all(len(text) <= PARAGRAPH_CHARS for text in prose)
    assert prose[0].startswith("Parameters\n----------\np0 : int")
    assert "\n".join(prose).count("The parameter number") == 60


def test_prose_reads_as_markdown_without_rst_roles() -> None:
    doc = "See :class:`~pyspark.SparkContext` and :meth:`read <pyspark.sql.SparkSession.read>`.\n\nUse ``border=1``."
    assert split_docstring(doc) == [
        ("See `pyspark.SparkContext` and `read`.", False),
        ("Use `border=1`.", False),
    ]
