"""Hybrid retrieval with the real model and real Chroma, on a small index of real corpus files
(tests.indexes builds it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.sources import SourceSpec
from rag import retrieval
from rag.keywords import KeywordIndex
from rag.models import Hit
from rag.question import one_way
from rag.retrieval import RRF_K, Filters, Retriever, Snapshot
from rag.settings import Settings
from rag.store import ChromaStore
from tests.indexes import (
    ALL_SOURCES,
    DELTA_FILES,
    DELTA_VERSION,
    NOTE,
    NOTE_SOURCE,
    OTHER_FILES,
    SPARK_FILES,
    SPARK_VERSION,
    build_small_index,
    clean_settings,
    copy_files,
    ingest,
)

# The index of this module


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path, embedder: Any) -> Settings:
    return build_small_index(tmp_path_factory.mktemp("retrieval"), shared_corpus, embedder)


@pytest.fixture(scope="module")
def retriever(index: Settings, embedder: Any) -> Retriever:
    return Retriever(ChromaStore(index), embedder)


@pytest.fixture(scope="module")
def snap(retriever: Retriever) -> Snapshot:
    return retriever.snapshot()


@pytest.fixture(scope="module")
def two_per_file(index: Settings, embedder: Any) -> Retriever:
    """Explicit selection settings for the tests about per-file limits and windows."""
    return Retriever(ChromaStore(index), embedder, per_source=2, window=1)


@pytest.fixture(scope="module")
def ann(index: Settings, embedder: Any) -> Retriever:
    """A retriever whose dense side always comes from Chroma's HNSW index."""
    return Retriever(ChromaStore(index), embedder, exact_limit=0)


def test_the_index_holds_every_file(snap: Snapshot) -> None:
    assert {m["source"] for m in snap.metas} == ALL_SOURCES
    assert len(snap) == len(snap.texts) == len(snap.metas) == snap.vectors.shape[0]
    assert snap.vectors.shape[1] == 384
    assert np.allclose(np.linalg.norm(snap.vectors, axis=1), 1.0, atol=1e-3)


@pytest.mark.parametrize(
    ("question", "source", "needle"),
    [
        (
            "which table property do I flip to get name-based column mapping -- "
            "delta.columnMapping.mode?",
            "delta/docs/delta-column-mapping.mdx",
            "delta.columnMapping.mode",
        ),
        (
            "delta.columnMapping.mode",
            "delta/docs/delta-column-mapping.mdx",
            "'delta.columnMapping.mode' = 'name'",
        ),
        (
            "i got InvariantViolationException when inserting rows, why??",
            "delta/docs/delta-constraints.mdx",
            "InvariantViolationException",
        ),
        (
            "InvariantViolationException",
            "delta/docs/delta-constraints.mdx",
            "InvariantViolationException",
        ),
        (
            "hey so delta.feature.allowColumnDefaults -- what do i set it to",
            "delta/docs/delta-default-columns.mdx",
            "delta.feature.allowColumnDefaults",
        ),
        (
            "jdbc read is slow, rows per round trip?? fetchsize",
            "spark/docs/sql-data-sources-jdbc.md",
            "fetchsize",
        ),
        (
            "nightly-bronze-vacuum retention hours",
            NOTE_SOURCE,
            "168 hours",
        ),
    ],
)
def test_exact_keys_and_errors_find_their_doc_in_the_top_3(
    retriever: Retriever, question: str, source: str, needle: str
) -> None:
    hits = retriever.search(question, k=3)
    assert len(hits) == 3
    matching = [h for h in hits if h.source == source]
    assert matching, [h.source for h in hits]
    assert any(needle in h.text for h in matching)
    # The key itself is matched by the keyword side, not only by the embedding.
    assert any(h.metadata["keyword_score"] > 0 for h in matching)


def test_hits_are_ranked_by_fused_score(retriever: Retriever) -> None:
    hits = retriever.search("How do I add a CHECK constraint to a Delta table?", k=8)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    # Reciprocal rank fusion: at best first in both lists, (1 + keyword weight) / (RRF_K + 1).
    best = (1 + retriever.keyword_weight) / (RRF_K + 1)
    assert all(0 < s <= best + 1e-9 for s in scores)
    assert hits[0].source == "delta/docs/delta-constraints.mdx"


def test_hits_carry_citation_metadata_and_both_scores(retriever: Retriever) -> None:
    hits = retriever.search("Technical Steering Committee of the Delta Lake project", k=5)
    pdf = [h for h in hits if h.source == "pdf/delta-io_delta/delta-charter.pdf"]
    assert pdf, [h.source for h in hits]
    for hit in pdf:
        assert isinstance(hit.page, int) and hit.page >= 1
        assert hit.url is not None
        assert hit.url.startswith("https://github.com/delta-io/delta/blob/")
        assert hit.url.endswith("/delta-charter.pdf")
        assert hit.product == "delta"
    for hit in hits:
        assert hit.heading_path.startswith(hit.title)
        dense, keyword = hit.metadata["dense_score"], hit.metadata["keyword_score"]
        assert isinstance(dense, float) and -1.0 <= dense <= 1.0
        assert isinstance(keyword, float) and keyword >= 0.0
        assert hit.id and hit.source in ALL_SOURCES

    [note] = [h for h in retriever.search("nightly-bronze-vacuum", k=3) if h.source == NOTE_SOURCE]
    assert note.product == "team" and note.url is None and note.page is None
    assert note.heading_path == "Bronze retention > Vacuum policy"


def test_the_keyword_search_leaves_out_the_alternative_a_question_turns_from(
    retriever: Retriever,
) -> None:
    plain = retriever.search("How does our team vacuum bronze tables?", k=10)
    turned = retriever.search(
        "How does our team vacuum bronze tables instead of asking the Technical Steering "
        "Committee?",
        k=10,
    )
    scores = {h.id: h.metadata["keyword_score"] for h in plain}
    shared = [h for h in turned if h.id in scores]
    assert shared
    assert all(h.metadata["keyword_score"] == scores[h.id] for h in shared)
    charter = [h for h in turned if h.source == "pdf/delta-io_delta/delta-charter.pdf"]
    assert all(h.metadata["keyword_score"] == 0.0 for h in charter)


def test_markdown_hits_carry_heading_path_and_upstream_url(retriever: Retriever) -> None:
    [top, *_] = retriever.search("ALTER TABLE ADD CONSTRAINT CHECK constraint", k=3)
    assert top.source == "delta/docs/delta-constraints.mdx"
    assert top.heading_path.startswith("Constraints")
    assert top.url == (
        "https://github.com/delta-io/delta/blob/bb1057f4367f555b01e299fd1690d85aafc0ac4c/"
        "docs/src/content/docs/delta-constraints.mdx"
    )
    assert top.metadata["version"] == DELTA_VERSION and top.page is None


@pytest.mark.parametrize(
    ("filters", "allowed"),
    [
        (Filters(products=("spark",)), set(SPARK_FILES)),
        (Filters(products=("mlflow", "team")), {OTHER_FILES[0], NOTE_SOURCE}),
        (Filters(sources=("delta/docs/delta-c",)), set(DELTA_FILES) - {DELTA_FILES[2]}),
        (Filters(versions=(DELTA_VERSION,)), set(DELTA_FILES)),
        # The charter PDF is a delta document, but carries no version.
        (Filters(products=("delta",)), {*DELTA_FILES, OTHER_FILES[1]}),
        (Filters(products=("delta",), versions=(SPARK_VERSION,)), set()),
    ],
)
def test_filters_restrict_results(
    retriever: Retriever, filters: Filters, allowed: set[str]
) -> None:
    question = "How do I enable column mapping on a Delta table with delta.columnMapping.mode?"
    hits = retriever.search(question, k=10, filters=filters)
    assert {h.source for h in hits} <= allowed
    if allowed:
        assert hits, "a filter with matching chunks must still return hits"
    else:
        assert hits == []
    unfiltered = retriever.search(question, k=10)
    assert unfiltered[0].source == "delta/docs/delta-column-mapping.mdx"


def test_version_filter_keeps_only_that_version(retriever: Retriever) -> None:
    hits = retriever.search("JDBC fetch size", k=6, filters=Filters(versions=(SPARK_VERSION,)))
    assert hits and all(h.metadata.get("version") == SPARK_VERSION for h in hits)
    assert {h.product for h in hits} == {"spark"}


def test_filters_where_clause() -> None:
    assert Filters().where() is None and not Filters()
    assert Filters(sources=("spark/",)).where() is None and Filters(sources=("spark/",))
    assert Filters(products=("spark",)).where() == {"product": {"$in": ["spark"]}}
    assert Filters(products=("spark",), versions=("4.0.0",)).where() == {
        "$and": [{"product": {"$in": ["spark"]}}, {"version": {"$in": ["4.0.0"]}}]
    }


def test_no_file_gets_more_than_per_source_hits_while_others_remain(
    retriever: Retriever, two_per_file: Retriever
) -> None:
    for search, limit in ((retriever, retriever.per_source), (two_per_file, 2)):
        hits = search.search("model version alias registry", k=6)
        assert len(hits) == 6
        counts: dict[str, int] = {}
        for hit in hits:
            counts[hit.source] = counts.get(hit.source, 0) + 1
        # Eight files are indexed, so six hits never need more of one file than the limit.
        assert max(counts.values()) <= limit, counts


def test_passage_window_widens_a_hit_to_its_neighbours(
    retriever: Retriever, snap: Snapshot
) -> None:
    hits = retriever.search("delta.columnMapping.mode", k=3)
    hit = next(h for h in hits if h.source == "delta/docs/delta-column-mapping.mdx")
    index = snap.ids.index(hit.id)
    ordinal = int(snap.metas[index]["ordinal"])
    neighbours = [
        i
        for i, m in enumerate(snap.metas)
        if m["source"] == hit.source
        and m["origin"] == snap.metas[index]["origin"]
        and abs(int(m["ordinal"]) - ordinal) == 1
    ]
    assert neighbours, "the column mapping page has more than one chunk"
    assert snap.texts[index] in hit.text
    for i in neighbours:
        assert snap.texts[i] in hit.text
        heading = snap.metas[i]["heading_path"]
        if heading != hit.heading_path:
            assert f"{heading.rsplit(' > ', 1)[-1]}:" in hit.text
    assert len(hit.text) > len(snap.texts[index])
    # The neighbours come in reading order around the chunk itself.
    ordered = sorted([index, *neighbours], key=lambda i: int(snap.metas[i]["ordinal"]))
    positions = [hit.text.index(snap.texts[i]) for i in ordered]
    assert positions == sorted(positions)


def test_window_zero_returns_the_chunk_alone(index: Settings, embedder: Any) -> None:
    narrow = Retriever(ChromaStore(index), embedder, window=0)
    snap = narrow.snapshot()
    for hit in narrow.search("delta.columnMapping.mode", k=5):
        assert hit.text == snap.texts[snap.ids.index(hit.id)]


def test_chroma_hnsw_loses_no_hits_against_exact_search(
    index: Settings, snap: Snapshot, embedder: Any
) -> None:
    """Approximate search does not lose hits: Chroma's top 10 equals exact numpy top 10."""
    questions = [
        "How do I enable column mapping?",
        "Which exception is raised when a CHECK constraint is violated?",
        "JDBC fetch size and batch size",
        "decimal precision and scale",
        "register a model and set an alias",
        "Technical Steering Committee voting",
        "bronze table retention",
        "default column values in INSERT",
        "What is the weather like in Lisbon?",
        "timestamp without time zone",
    ]
    store = ChromaStore(index)
    recalls = []
    for vector in embedder.embed(questions):
        exact = np.argsort(-(snap.vectors @ vector))[:10]
        exact_ids = {snap.ids[i] for i in exact}
        approx = store.query(vector, 10)
        assert len(approx) == 10
        recalls.append(len(exact_ids & {h.id for h in approx}) / 10)
        by_id = {snap.ids[i]: float(snap.vectors[i] @ vector) for i in exact}
        for hit in approx:
            if hit.id in by_id:
                assert hit.score == pytest.approx(by_id[hit.id], abs=1e-3)
    assert recalls == [1.0] * len(questions)


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(products=("spark",)), Filters(versions=(DELTA_VERSION,))],
)
def test_ann_path_matches_exact_path(
    retriever: Retriever, ann: Retriever, filters: Filters
) -> None:
    """Above exact_limit the dense side comes from Chroma; on a small index it must agree."""
    for question in ("How do I enable column mapping?", "JDBC fetch size", "CHECK constraint"):
        exact_hits = retriever.search(question, k=5, filters=filters)
        ann_hits = ann.search(question, k=5, filters=filters)
        assert [h.id for h in ann_hits] == [h.id for h in exact_hits]


def test_ann_path_honours_source_filter(retriever: Retriever, ann: Retriever) -> None:
    prefix = "delta/docs/delta-constraints"
    question = "How do I enable column mapping?"
    exact = retriever.search(question, k=5, filters=Filters(sources=(prefix,)))
    assert exact and all(h.source.startswith(prefix) for h in exact)
    hits = ann.search(question, k=5, filters=Filters(sources=(prefix,)))
    assert all(h.source.startswith(prefix) for h in hits), [h.source for h in hits]


def test_k_zero_returns_nothing(retriever: Retriever) -> None:
    assert retriever.search("CHECK constraint", k=0) == []


def test_empty_question_and_nonsense_do_not_crash(retriever: Retriever) -> None:
    hits = retriever.search("", k=3)
    assert len(hits) == 3 and all(h.metadata["keyword_score"] == 0.0 for h in hits)
    hits = retriever.search("zzqx qqzv", k=3)
    assert len(hits) == 3 and all(h.metadata["keyword_score"] == 0.0 for h in hits)


# Near-duplicates and refresh, each on its own small index


def _texts_and_hashes(hits: Sequence[Hit]) -> tuple[list[str], list[str]]:
    return [h.text for h in hits], [str(h.metadata["hash"]) for h in hits]


@pytest.fixture(scope="module")
def duplicated(
    tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path, embedder: Any
) -> Iterator[Retriever]:
    """The Delta pages ingested twice, from two folders (a mirror and a copy of it)."""
    base = tmp_path_factory.mktemp("dupes")
    first = copy_files(shared_corpus, base / "mirror", DELTA_FILES)
    second = base / "copy"
    shutil.copytree(first, second)
    settings = clean_settings(base / "home")
    ingest(settings, [SourceSpec(str(first)), SourceSpec(str(second))], embedder)
    yield Retriever(ChromaStore(settings), embedder, per_source=2, window=1)


@pytest.mark.parametrize(
    "question",
    [
        "How do I add a CHECK constraint?",
        "delta.columnMapping.mode",
        "default column values",
        "InvariantViolationException",
    ],
)
def test_duplicate_chunks_are_collapsed(duplicated: Retriever, question: str) -> None:
    snap = duplicated.snapshot()
    hashes = [str(m["hash"]) for m in snap.metas]
    assert all(hashes.count(h) == 2 for h in hashes), "every chunk is stored twice"
    assert len({m["origin"] for m in snap.metas}) == 2
    hits = duplicated.search(question, k=10)
    assert len(hits) >= 5
    texts, digests = _texts_and_hashes(hits)
    assert len(set(digests)) == len(digests)
    assert len(set(texts)) == len(texts)
    cores = [snap.texts[snap.ids.index(h.id)] for h in hits]
    assert len(set(cores)) == len(cores)
    vectors = np.stack([snap.vectors[snap.ids.index(h.id)] for h in hits])
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.98


def _core_shown_twice(snap: Snapshot, hits: Sequence[Hit]) -> list[tuple[int, int]]:
    """Pairs (a, b) of hit numbers where hit b's own chunk text is already inside hit a."""
    cores = [snap.texts[snap.ids.index(h.id)] for h in hits]
    return [
        (a + 1, b + 1)
        for a, hit in enumerate(hits)
        for b, core in enumerate(cores)
        if a != b and core in hit.text
    ]


@pytest.mark.parametrize("k", [3, 6])
def test_no_hit_sits_inside_another_hits_window(two_per_file: Retriever, k: int) -> None:
    snap = two_per_file.snapshot()
    for question in ("How do I add a CHECK constraint?", "delta.columnMapping.mode"):
        hits = two_per_file.search(question, k=k)
        assert len(hits) == k
        assert len({h.source for h in hits}) < k  # some file gives two hits...
        assert _core_shown_twice(snap, hits) == []  # ...that do not overlap


def test_overflow_hits_do_not_repeat_each_other(two_per_file: Retriever) -> None:
    snap = two_per_file.snapshot()
    # Three Delta files at two hits each: every hit past the sixth comes from the overflow,
    # as many as there are windows that do not overlap.
    hits = two_per_file.search(
        "How do I add a CHECK constraint?", k=10, filters=Filters(versions=(DELTA_VERSION,))
    )
    assert len(hits) > 6
    assert _core_shown_twice(snap, hits) == []


def test_duplicate_text_is_not_shown_twice_through_windows(duplicated: Retriever) -> None:
    hits = duplicated.search("How do I add a CHECK constraint?", k=10)
    assert _core_shown_twice(duplicated.snapshot(), hits) == []


def test_refresh_picks_up_a_new_ingest(tmp_path: Path, shared_corpus: Path, embedder: Any) -> None:
    docs = copy_files(shared_corpus, tmp_path / "docs", DELTA_FILES[:1])
    settings = clean_settings(tmp_path / "h")
    ingest(settings, [SourceSpec(str(docs))], embedder)
    retriever = Retriever(ChromaStore(settings), embedder)
    before = retriever.search("nightly-bronze-vacuum retention", k=5)
    assert before and NOTE_SOURCE not in {h.source for h in before}

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / NOTE_SOURCE).write_text(NOTE)
    ingest(settings, [SourceSpec(str(notes), product="team")], embedder)
    stale = retriever.search("nightly-bronze-vacuum retention", k=5)
    assert NOTE_SOURCE not in {h.source for h in stale}  # the snapshot is in memory

    retriever.refresh()
    fresh = retriever.search("nightly-bronze-vacuum retention", k=5)
    assert fresh[0].source == NOTE_SOURCE
    assert "nightly-bronze-vacuum" in fresh[0].text
    assert {m["source"] for m in retriever.snapshot().metas} == {DELTA_FILES[0], NOTE_SOURCE}


def test_empty_index_returns_no_hits(tmp_path: Path, embedder: Any) -> None:
    settings = clean_settings(tmp_path / "h")
    retriever = Retriever(ChromaStore(settings), embedder)
    assert len(retriever.snapshot()) == 0
    assert retriever.search("anything", k=5) == []


# Guides and API reference ranked together, on an index held in memory


class MemoryStore:
    """A store that hands the retriever chunks embedded in the test."""

    def __init__(self, chunks: Sequence[tuple[str, dict[str, Any]]], embedder: Any) -> None:
        self.chunks = chunks
        self.vectors = embedder.embed([text for text, _ in chunks])

    def scan(self, *, with_vectors: bool) -> Any:
        ids = [f"m{i}" for i in range(len(self.chunks))]
        yield ids, [t for t, _ in self.chunks], [dict(m) for _, m in self.chunks], self.vectors


def guide(source: str, ordinal: int = 0) -> dict[str, Any]:
    return {
        "source": source,
        "origin": "guides",
        "product": "delta",
        "ordinal": ordinal,
        "hash": source,
    }


def entry(symbol: str) -> dict[str, Any]:
    module = symbol.rsplit(".", 2)[0]
    return {
        "source": module.replace(".", "/") + ".py",
        "origin": "pypi:delta-spark==4.0.0",
        "product": "delta",
        "ordinal": hash(symbol) % 1000,
        "symbol": symbol,
        "heading_path": symbol,
        "hash": symbol,
    }


MIXED = [
    (
        "Remove files no longer referenced by a Delta table with the vacuum command. "
        "The default retention threshold is 7 days.",
        guide("delta/docs/delta-utility.mdx"),
    ),
    (
        "vacuum(retentionHours=None): Recursively delete files and directories in the table "
        "that are not needed by the table for maintaining older versions up to the given "
        "retention threshold.",
        entry("delta.tables.DeltaTable.vacuum"),
    ),
    (
        "optimize(): Optimize the data layout of the table and remove small files.",
        entry("delta.tables.DeltaTable.optimize"),
    ),
    (
        "Property Name | Default | Meaning\n"
        "`spark.databricks.delta.retentionDurationCheck.enabled` | true | Refuse a retention "
        "shorter than the default.",
        guide("delta/docs/configuration.mdx"),
    ),
    (
        "Retention checks protect readers. Disable spark.databricks.delta.retentionDurationCheck.enabled "
        "only if no reader runs longer than the retention.",
        guide("delta/docs/best-practices.mdx"),
    ),
    (
        "The SELECT clause supports SORT BY and CLUSTER BY to sort within each partition.",
        guide("spark/docs/sql-ref-syntax-qry-select.md"),
    ),
    ("Clusters run applications; a cluster manager sorts out resources.", guide("spark/x.md")),
]


@pytest.fixture(scope="module")
def mixed(embedder: Any) -> Retriever:
    return Retriever(MemoryStore(MIXED, embedder), embedder, window=0)  # type: ignore[arg-type]


def test_a_how_to_question_gets_the_guide_before_the_api_entry(mixed: Retriever) -> None:
    hits = mixed.search("How do I remove old files from a delta table?", 3)
    assert hits[0].source == "delta/docs/delta-utility.mdx"
    assert not hits[0].metadata.get("symbol")


def test_a_question_naming_a_symbol_gets_its_entry_near_the_top(mixed: Retriever) -> None:
    hits = mixed.search("What does DeltaTable.vacuum() do with retentionHours?", 3)
    symbols = [h.metadata.get("symbol") for h in hits[:2]]
    assert "delta.tables.DeltaTable.vacuum" in symbols
    assert "delta.tables.DeltaTable.optimize" not in symbols


def test_the_row_that_defines_a_quoted_name_comes_first(mixed: Retriever) -> None:
    hits = mixed.search("What does spark.databricks.delta.retentionDurationCheck.enabled do?", 2)
    assert hits[0].source == "delta/docs/configuration.mdx"


def test_what_is_x_gets_the_passage_that_says_what_x_is_first(embedder: Any) -> None:
    chunks = [
        (
            "Z-Ordering helps data skipping. For best results, apply Z-Ordering to the columns "
            "you filter on: Z-Ordering on them skips the most files.",
            guide("delta/docs/skipping.mdx"),
        ),
        (
            "Run OPTIMIZE with ZORDER BY. Z-Ordering is a technique to colocate related "
            "information in the same set of files.",
            guide("delta/docs/zorder.mdx"),
        ),
    ]
    retriever = Retriever(MemoryStore(chunks, embedder), embedder, window=0)  # type: ignore[arg-type]
    assert (
        retriever.search("What is Z-ordering in Delta Lake?", 2)[0].source
        == "delta/docs/zorder.mdx"
    )


def test_a_defining_row_outside_the_filters_stays_out(mixed: Retriever) -> None:
    question = "What does spark.databricks.delta.retentionDurationCheck.enabled do?"
    hits = mixed.search(question, 3, Filters(sources=("spark/",)))
    assert hits and all(h.source.startswith("spark/") for h in hits)


def test_reference_material_comes_after_the_guide_for_a_how_to_question(embedder: Any) -> None:
    spec = (
        "Old files removed from a Delta table: VACUUM deletes data files that the table no "
        "longer references. Writers must keep old files for the retention period before "
        "VACUUM removes them, and readers must not read removed files.",
        guide("delta/PROTOCOL.md"),
    )
    howto = (
        "Run VACUUM to clean up a table's storage.",
        guide("delta/docs/delta-utility.mdx"),
    )
    question = "How do I remove old files from a delta table?"
    plain = Retriever(MemoryStore([spec, howto], embedder), embedder, window=0)  # type: ignore[arg-type]
    assert plain.search(question, 2)[0].source == "delta/PROTOCOL.md"  # it matches better
    marked = (spec[0], spec[1] | {"reference": True})
    ranked = Retriever(MemoryStore([marked, howto], embedder), embedder, window=0)  # type: ignore[arg-type]
    assert [h.source for h in ranked.search(question, 2)] == [
        "delta/docs/delta-utility.mdx",
        "delta/PROTOCOL.md",
    ]


def test_sql_keyword_phrases_in_capitals_find_their_page(mixed: Retriever) -> None:
    hits = mixed.search("In a Spark SQL SELECT, what does CLUSTER BY do?", 1)
    assert hits[0].source == "spark/docs/sql-ref-syntax-qry-select.md"


def test_hits_say_where_their_chunk_sits_in_the_widened_text(retriever: Retriever) -> None:
    for hit in retriever.search("How do I enable column mapping?", 4):
        start, end = hit.metadata["focus"]
        assert 0 <= start < end <= len(hit.text)
        assert hit.text[start:end].strip()


def test_a_chunk_cut_mid_sentence_goes_on_in_the_next_line_of_the_widened_text() -> None:
    texts = [
        "Set `startingOffsets` to choose where to start. It only applies when a new",
        "streaming query is started, and resuming picks up where it left off.",
        "Enable `failOnDataLoss` to fail the query instead.",
    ]
    metas = [
        {"origin": "o", "source": "kafka.md", "ordinal": k, "heading_path": "Kafka > Offsets"}
        for k in range(3)
    ]
    vectors = np.eye(3, dtype=np.float32)
    snap = Snapshot(["a", "b", "c"], texts, metas, vectors, KeywordIndex(texts))
    hit = snap.hit(1, 1.0, radius=1)
    assert hit.text == f"{texts[0]}\n{texts[1]}\n\n{texts[2]}"
    start, end = hit.metadata["focus"]
    assert hit.text[start:end] == texts[1]


def test_a_question_that_reads_gets_the_reading_section_before_the_writing_one(
    embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = (
        "Write the key and value columns of a streaming DataFrame to a Kafka topic: "
        'df.writeStream.format("kafka").option("topic", "events").start()',
        guide("spark/kafka.md", 0) | {"heading_path": "Kafka > Writing Data to Kafka"},
    )
    read = (
        'Subscribe to a topic: spark.readStream.format("kafka").option("subscribe", "events")',
        guide("spark/kafka.md", 5) | {"heading_path": "Kafka > Reading Data from Kafka"},
    )
    retriever = Retriever(MemoryStore([write, read], embedder), embedder, window=0)  # type: ignore[arg-type]
    question = "How do I read a Kafka topic as a streaming DataFrame?"
    monkeypatch.setattr(retrieval, "OPPOSITE_WEIGHT", 1.0)
    assert retriever.search(question, 2)[0].heading_path.endswith("Writing Data to Kafka")
    monkeypatch.undo()
    assert retriever.search(question, 2)[0].heading_path.endswith("Reading Data from Kafka")
    # Asked the other way, the writing section keeps its place.
    assert retriever.search("How do I write a streaming DataFrame to a Kafka topic?", 2)[
        0
    ].heading_path.endswith("Writing Data to Kafka")


def test_an_api_entry_is_widened_only_within_its_own_entry(embedder: Any) -> None:
    def chunk(symbol: str, ordinal: int, text: str) -> tuple[str, dict[str, Any]]:
        return text, entry(symbol) | {"source": "pyspark/sql/dataframe.py", "ordinal": ordinal}

    chunks = [
        chunk("pyspark.sql.DataFrame.unpersist", 0, "Returns\n-------\nUnpersisted DataFrame."),
        chunk(
            "pyspark.sql.DataFrame.coalesce",
            1,
            "Returns a new DataFrame with exactly n partitions.",
        ),
        chunk(
            "pyspark.sql.DataFrame.coalesce", 2, "To avoid a drastic coalesce, call repartition()."
        ),
        chunk("pyspark.sql.DataFrame.collect", 3, "Returns all the records as a list of Row."),
    ]
    retriever = Retriever(MemoryStore(chunks, embedder), embedder, window=1)  # type: ignore[arg-type]
    hit = next(
        h
        for h in retriever.search("What does coalesce return, with exactly n partitions?", 4)
        if h.metadata["ordinal"] == 1
    )
    assert hit.text == f"{chunks[1][0]}\n\n{chunks[2][0]}"  # its own next chunk, no neighbour's
    assert hit.metadata["focus"] == [0, len(chunks[1][0])]


@pytest.mark.parametrize(
    ("heading", "way"),
    [
        ("Kafka > Writing Data to Kafka > Creating a Kafka Sink for Streaming Queries", "write"),
        ("Kafka > Creating a Kafka Source for Streaming Queries", "read"),
        ("Generic Load/Save Functions", ""),  # both
        ("JDBC To Other Databases > Data Source Option", ""),  # a format, not a way
        ("Model Signatures And Input Examples > Input Examples in Detail", ""),
        ("Structured Streaming > Output Modes", ""),
    ],
)
def test_a_heading_says_which_way_its_data_flows_only_in_words_of_reading_or_writing(
    heading: str, way: str
) -> None:
    assert one_way(heading, retrieval.HEADING_WAYS) == way


def test_a_neighbouring_entry_an_api_hit_does_not_show_can_be_a_hit_of_its_own(
    embedder: Any,
) -> None:
    def chunk(symbol: str, ordinal: int, text: str) -> tuple[str, dict[str, Any]]:
        return text, entry(symbol) | {"source": "pyspark/sql/dataframe.py", "ordinal": ordinal}

    chunks = [
        chunk("pyspark.sql.DataFrame.unpersist", 0, "unpersist returns the unpersisted DataFrame."),
        chunk("pyspark.sql.DataFrame.coalesce", 1, "coalesce returns a DataFrame of n partitions."),
        chunk("pyspark.sql.DataFrame.collect", 2, "collect returns all the records as a list."),
    ]
    retriever = Retriever(MemoryStore(chunks, embedder), embedder, window=1)  # type: ignore[arg-type]
    hits = retriever.search("What do unpersist, coalesce and collect return?", 3)
    assert sorted(h.metadata["ordinal"] for h in hits) == [0, 1, 2]


def test_each_part_of_a_two_part_question_ranks_the_passages(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The words of the whole question lean to one part; each part's own ranking brings up the
    passage of the other."""
    question = (
        "How do I rename a column of a Delta table without rewriting the data files with column "
        "mapping, and which JDBC option sets the fetch size?"
    )
    monkeypatch.setattr(Retriever, "_add_parts", lambda *args: None)
    alone = [hit.source for hit in retriever.search(question, 3)]
    monkeypatch.undo()
    both = [hit.source for hit in retriever.search(question, 3)]
    assert "spark/docs/sql-data-sources-jdbc.md" not in alone
    assert "spark/docs/sql-data-sources-jdbc.md" in both
