"""The dataclasses' derived fields: a passage's breadcrumb and citation line."""

from __future__ import annotations

from typing import Any

import pytest

from rag.models import Hit


def hit(**metadata: Any) -> Hit:
    return Hit(id="a#0", text="text", score=1.0, metadata=metadata)


@pytest.mark.parametrize(
    ("heading_path", "title", "breadcrumb"),
    [
        ("Constraints > CHECK constraint", "Constraints", "Constraints > CHECK constraint"),
        ("Quarantine > Quarantine > Retention", "Quarantine", "Quarantine > Retention"),
        ("Setup > Tuning > tuning", "Setup", "Setup > Tuning"),
        ("", "Cluster tags", "Cluster tags"),
        (
            "pyspark.sql.DataFrame.repartition",
            "pyspark.sql.DataFrame.repartition",
            "pyspark.sql.DataFrame.repartition",
        ),
    ],
)
def test_a_heading_that_repeats_the_one_before_shows_once(
    heading_path: str, title: str, breadcrumb: str
) -> None:
    assert hit(heading_path=heading_path, title=title).breadcrumb == breadcrumb


def test_the_citation_line_names_the_title_once() -> None:
    found = hit(
        heading_path="Quarantine bucket policy > Quarantine bucket policy",
        title="Quarantine bucket policy",
        source="notes/quarantine.md",
        product="team",
    )
    assert found.citation == "team notes · Quarantine bucket policy (notes/quarantine.md)"


@pytest.mark.parametrize(
    ("place", "where"),
    [
        ({"page": 6}, "(pdf/deck.pdf p.6)"),
        ({"cell": 3}, "(pdf/deck.pdf cell 3)"),
        ({"cell": 3, "last_cell": 4}, "(pdf/deck.pdf cells 3-4)"),
        ({}, "(pdf/deck.pdf)"),
    ],
)
def test_the_citation_line_names_the_page_or_the_cells(place: dict[str, int], where: str) -> None:
    found = hit(heading_path="Deck", title="Deck", source="pdf/deck.pdf", product="docs", **place)
    assert found.citation == f"docs · Deck {where}"
