"""The deprecated entries an answer cites and the notes that open it: only what the metadata
says."""

from __future__ import annotations

from typing import Any

from rag.deprecations import deprecations, describe, notes, of_extract, with_notes
from rag.models import Deprecation, Hit
from rag.selection import Piece, Selection
from rag.units import Unit


def entry(symbol: str, **meta: Any) -> Hit:
    return Hit(id=symbol, text=f"def {symbol}()", score=1.0, metadata={"symbol": symbol, **meta})


HITS = [
    Hit(id="guide", text="A guide.", score=1.0, metadata={"source": "guide.md"}),
    entry("pkg.old", deprecated="2.0.0", deprecated_use="pkg.new", since="1.0"),
    entry("pkg.new", since="2.0.0"),
    entry("pkg.gone", deprecated="yes"),
    entry("pkg.old", deprecated="2.0.0", deprecated_use="pkg.new"),  # the entry's next chunk
    entry("pkg.multi", deprecated="yes", deprecated_use="a.b, c_d, or e"),
]


def test_only_deprecated_entries_among_the_numbers_each_once() -> None:
    assert deprecations(HITS, [1, 2, 3, 4, 5, 9, 0]) == [
        Deprecation("pkg.old", "2.0.0", "pkg.new", 2),
        Deprecation("pkg.gone", None, None, 4),
    ]
    assert deprecations(HITS, [1, 3]) == []


def test_an_extract_notes_its_lead_and_what_the_question_names() -> None:
    selection = Selection(
        hits=HITS,
        lead=[Piece(Unit("def pkg.gone()", hit=3, position=0, kind="code"), 4)],
        support=[Piece(Unit("def pkg.old()", 1, 0, "code"), 2)],
    )
    gone = Deprecation("pkg.gone", None, None, 4)
    assert of_extract(selection, "How do I remove things?") == [gone]
    old = Deprecation("pkg.old", "2.0.0", "pkg.new", 2)
    assert of_extract(selection, "What does `old` do?") == [gone, old]
    assert of_extract(selection, "What does pkg.old() do?") == [gone, old]
    assert of_extract(selection, "What does bold() do?") == [gone]


def test_notes_say_what_the_metadata_says() -> None:
    found = deprecations(HITS, [2, 4, 6])
    assert notes(found) == (
        "Note: `pkg.old` is deprecated since 2.0.0; use `pkg.new` instead. [2]\n"
        "Note: `pkg.gone` is deprecated. [4]\n"
        "Note: `pkg.multi` is deprecated; use `a.b`, `c_d` or `e` instead. [6]\n\n"
    )
    assert (
        describe(found[0], quote=False) == "pkg.old is deprecated since 2.0.0; use pkg.new instead."
    )
    phrase = Deprecation("pkg.x", None, "the mlflow.genai API", 1)
    assert describe(phrase) == "`pkg.x` is deprecated; use the mlflow.genai API instead."
    assert notes([]) == ""


def test_notes_go_first_after_the_framing() -> None:
    found = [Deprecation("pkg.old", "2.0.0", "pkg.new", 1)]
    note = "Note: `pkg.old` is deprecated since 2.0.0; use `pkg.new` instead. [1]\n\n"
    assert with_notes("As a developer:\n\nCall it [1].", "As a developer:", found) == (
        f"As a developer:\n\n{note}Call it [1]."
    )
    assert with_notes("Call it [1].", "", found) == f"{note}Call it [1]."
    assert with_notes("Call it [1].", "", []) == "Call it [1]."
