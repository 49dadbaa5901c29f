"""Hybrid retrieval: exact (or Chroma ANN) dense search plus BM25, fused by reciprocal rank."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding import Embedder
from rag.keywords import KeywordIndex
from rag.models import Hit, is_api, is_reference, symbol_of
from rag.names import Names
from rag.question import Question, keyword_query, one_way, plain
from rag.saved_snapshot import read as read_saved
from rag.saved_snapshot import write as write_saved
from rag.store import ChromaStore

RRF_K = 60
CANDIDATES = 100
NEAR_DUPLICATE = 0.98
# A question that names no API symbol is a how-to or concept question: the guides answer it,
# and reference material (API entries, specifications) only comes after them unless it
# matches far better.
REFERENCE_WEIGHT = 0.5
# A chunk with the table row that defines a name the question quotes scores as if it came first
# in one more ranking.
DEFINED_BONUS = 1.0 / (RRF_K + 1)
# A chunk with every SQL keyword phrase of the question counts this much more.
PHRASE_BOOST = 0.5
# A question that reads data (or writes it) and a section whose heading is about the other way
# ("Writing Data to Kafka" for "How do I read a Kafka topic?"): the section counts this much.
OPPOSITE_WEIGHT = 0.5
HEADING_WAYS = {
    # A "data source" is a format (the JDBC data source reads and writes), not a way; input
    # and output name other things too ("Signatures and Input Examples", "Output Modes").
    "read": re.compile(r"\b(?:read|reads|reading|(?<!data )sources?|load|loading)\b", re.I),
    "write": re.compile(r"\b(?:write|writes|writing|sinks?|save|saving)\b", re.I),
}
# A bare name (`persist()`) names an entry only when few entries end with it.
AMBIGUOUS = 3
# A chunk that ends in a word or comma and a next one that starts in lower case: one sentence
# that chunking cut in two.
CUT_END = re.compile(r"[\w,]\s*$")
CUT_START = re.compile(r"\s*[a-z(]")
# A file's copy from another release than the pinned one, which the index also holds, counts
# this much: it still answers what only its release documents.
SUPERSEDED_WEIGHT = 0.25


@dataclass(frozen=True)
class Filters:
    """Restrict a search to some products, source path prefixes or versions (empty: no limit)."""

    products: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.products or self.sources or self.versions)

    def where(self) -> dict[str, Any] | None:
        """The same restriction as a Chroma where clause (source prefixes excepted)."""
        clauses: list[dict[str, Any]] = []
        if self.products:
            clauses.append({"product": {"$in": list(self.products)}})
        if self.versions:
            clauses.append({"version": {"$in": list(self.versions)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass
class Snapshot:
    """Every chunk of the index in memory: texts, metadata, vectors and the keyword index."""

    ids: list[str]
    texts: list[str]
    metas: list[dict[str, Any]]
    vectors: np.ndarray
    keywords: KeywordIndex
    _by_position: dict[tuple[str, str, int], int] = field(default_factory=dict)
    _symbols: dict[str, list[int]] | None = None
    _reference: np.ndarray | None = None
    _names: Names | None = None
    _lowered: str | None = None

    @classmethod
    def load(cls, store: ChromaStore) -> Snapshot:
        """Read the whole collection from the store."""
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        blocks: list[np.ndarray] = []
        for page_ids, page_texts, page_metas, page_vectors in store.scan(with_vectors=True):
            ids += page_ids
            texts += page_texts
            metas += page_metas
            blocks.append(np.asarray(page_vectors, dtype=np.float32))
        vectors = np.concatenate(blocks) if blocks else np.zeros((0, 1), dtype=np.float32)
        indexed = [f"{m.get('heading_path', '')}\n{t}" for m, t in zip(metas, texts, strict=True)]
        return cls(ids, texts, metas, vectors, KeywordIndex(indexed))

    def __len__(self) -> int:
        return len(self.ids)

    def warm(self) -> None:
        """Build now what is otherwise built on first use (names, symbols, positions), so a
        saved copy holds it too."""
        names = self.names
        _ = (self.reference, names.members, names.heads, self.named([]))
        if len(self):
            self.window(0, 0)

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Which chunks pass the filters (None: all)."""
        if not filters:
            return None
        keep = np.ones(len(self), dtype=bool)
        for i, meta in enumerate(self.metas):
            keep[i] = (
                (not filters.products or meta.get("product") in filters.products)
                and (not filters.versions or meta.get("version") in filters.versions)
                and (not filters.sources or str(meta.get("source", "")).startswith(filters.sources))
            )
        return keep

    def superseded(self, pinned: Mapping[str, str]) -> np.ndarray:
        """Which chunks come from another release of a file than the pinned one, when the
        index also holds the pinned release's copy (same product and source path)."""
        held = {(m.get("product"), m.get("version"), m.get("source")) for m in self.metas}
        out = np.zeros(len(self.metas), dtype=bool)
        for i, meta in enumerate(self.metas):
            product, version = meta.get("product"), meta.get("version")
            wanted = pinned.get(str(product))
            if wanted and version and version != wanted:
                out[i] = (product, wanted, meta.get("source")) in held
        return out

    @property
    def reference(self) -> np.ndarray:
        """Which chunks are reference material (API entries, specifications) rather than
        guides or notes."""
        if self._reference is None:
            self._reference = np.array([is_reference(meta) for meta in self.metas], dtype=bool)
        return self._reference

    @property
    def names(self) -> Names:
        """The dotted names the docs write, to tell known names from unknown ones."""
        if self._names is None:
            self._names = Names(self)
        return self._names

    def __getstate__(self) -> dict[str, Any]:
        """What a saved snapshot holds: not the lowered texts, which are quickly made again."""
        return {**self.__dict__, "_lowered": None}

    def spells(self, words: Sequence[str]) -> bool:
        """Whether some chunk writes these words in a row, apart, hyphened or run together
        ("corrupt record", "merge-on-read", "columnNameOfCorruptRecord")."""
        if self._lowered is None:
            self._lowered = "\n".join(text.lower() for text in self.texts)
        lowered = self._lowered
        return any(sep.join(words).lower() in lowered for sep in (" ", "-", ""))

    @property
    def pools(self) -> tuple[np.ndarray, np.ndarray]:
        """Guides and reference material, ranked apart before they are fused."""
        return ~self.reference, self.reference

    def named(self, names: Sequence[str]) -> list[int]:
        """The API entries of the symbols a question names: `DeltaTable.vacuum` names
        `delta.tables.DeltaTable.vacuum`; a bare word only counts when written as code."""
        if self._symbols is None:
            self._symbols = {}
            for i, meta in enumerate(self.metas):
                symbol = symbol_of(meta)
                if not symbol:
                    continue
                parts = symbol.lower().split(".")
                for k in range(1, len(parts) + 1):
                    self._symbols.setdefault(".".join(parts[-k:]), []).append(i)
        found: list[int] = []
        for name in names:
            entries = self._symbols.get(name.lower(), [])
            if "." in name or len({symbol_of(self.metas[i]) for i in entries}) <= AMBIGUOUS:
                found += entries
        return found

    def position(self, index: int) -> tuple[str, str, int]:
        """Where a chunk sits: origin, source and ordinal."""
        meta = self.metas[index]
        return str(meta.get("origin", "")), str(meta.get("source", "")), int(meta.get("ordinal", 0))

    def window(self, index: int, radius: int) -> list[int]:
        """The chunk and its neighbours in the same file, in reading order."""
        if not self._by_position:
            self._by_position = {self.position(i): i for i in range(len(self))}
        origin, source, ordinal = self.position(index)
        found = (
            self._by_position.get((origin, source, o))
            for o in range(ordinal - radius, ordinal + radius + 1)
        )
        return [i for i in found if i is not None]

    def shown(self, index: int, radius: int) -> list[int]:
        """The chunks a hit for chunk index shows: its window, an API entry's only within its
        own entry (the next entry documents another symbol)."""
        window = self.window(index, radius) if radius else [index]
        if not is_api(self.metas[index]):
            return window
        heading = self.metas[index].get("heading_path")
        return [i for i in window if self.metas[i].get("heading_path") == heading]

    def hit(self, index: int, score: float, radius: int = 0, **extra: float) -> Hit:
        """A Hit for chunk number index, its text widened to the chunks it shows."""
        meta = dict(self.metas[index])
        meta.update(extra)
        text = ""
        focus = 0
        labelled = False  # a neighbour before the chunk was labelled with its own heading
        for i in self.shown(index, radius):
            heading = self.metas[i].get("heading_path")
            other_section = i != index and heading != meta.get("heading_path")
            labelled = labelled or (other_section and i < index)
            shown = other_section or (i == index and labelled)
            label = f"{str(heading).rsplit(' > ', 1)[-1]}:" if shown else ""
            if label:
                text += ("\n\n" if text else "") + label
            if text:
                # A chunk cut mid-sentence goes on in the next one, on the next line.
                text += "\n" if not label and _goes_on(text, self.texts[i]) else "\n\n"
            if i == index:
                focus = len(text)
            text += self.texts[i]
        # Where the chunk that matched sits in the widened text (its neighbours are context).
        meta["focus"] = [focus, focus + len(self.texts[index])]
        return Hit(id=self.ids[index], text=text, score=score, metadata=meta)


class Retriever:
    """Finds the chunks for a question in a snapshot of the index."""

    def __init__(
        self,
        store: ChromaStore | Callable[[], ChromaStore],
        embedder: Embedder,
        *,
        exact_limit: int = 200_000,
        keyword_weight: float = 1.0,
        per_source: int = 3,
        window: int = 1,
        saved: Path | None = None,
        stamp: Callable[[], object] | None = None,
        pinned: Mapping[str, str] | None = None,
    ) -> None:
        self._store: ChromaStore | None = None
        self._open_store: Callable[[], ChromaStore] | None = None
        if callable(store):
            self._open_store = store
        else:
            self._store = store
        self.saved = saved
        self.stamp = stamp
        self.pinned = dict(pinned or {})
        self._superseded: tuple[Snapshot, np.ndarray] | None = None
        self.embedder = embedder
        self.exact_limit = exact_limit
        self.keyword_weight = keyword_weight
        self.per_source = per_source
        self.window = window
        self._snapshot: Snapshot | None = None
        self._stale = False
        self._lock = threading.Lock()

    @property
    def store(self) -> ChromaStore:
        """The store, opened on first use: a start that finds a saved snapshot needs none."""
        if self._store is None:
            assert self._open_store is not None
            self._store = self._open_store()
        return self._store

    def snapshot(self) -> Snapshot:
        """The in-memory copy of the index, loaded on first use and reloaded once stale;
        while a reload fails (an ingest is writing), the previous copy keeps answering."""
        with self._lock:
            if self._snapshot is None or self._stale:
                try:
                    if self._stale and self._store is not None:
                        self._store = self._store.reopened()
                    self._snapshot = self._load()
                    self._stale = False
                except Exception:
                    if self._snapshot is None:
                        raise
            return self._snapshot

    def _load(self) -> Snapshot:
        """The saved snapshot of the present index stamp, else one read from the store (and
        saved for the next start)."""
        stamp = self.stamp() if self.stamp else None
        if self.saved is None or stamp is None:
            return Snapshot.load(self.store)
        found = read_saved(self.saved, str(stamp))
        if found is None:
            found = Snapshot.load(self.store)
            write_saved(self.saved, str(stamp), found)
        return found

    def refresh(self) -> None:
        """Have the next search load the latest ingest (through a fresh Chroma client)."""
        with self._lock:
            self._stale = True

    def search(
        self,
        question: str,
        k: int = 10,
        filters: Filters | None = None,
        vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The k best chunks for a question (embedded here unless its vector is given), dense
        and keyword ranks fused."""
        snap = self.snapshot()
        filters = filters or Filters()
        if not len(snap) or k <= 0:
            return []
        prefixed = self.embedder.query_prefix + question
        query = self.embedder.embed([prefixed])[0] if vector is None else vector
        mask = snap.mask(filters)
        dense = self._dense(snap, query, mask, filters)
        keyword = _keyword(snap, question, mask)
        fused = self._fuse(snap, dense, keyword)
        asked = Question(question)
        if asked.searches:
            self._add_parts(snap, fused, asked.searches, mask, filters)
        self._weigh(snap, fused, asked, mask)
        if self.pinned and not filters.versions:
            superseded = self._superseded_in(snap)
            for i in fused:
                if superseded[i]:
                    fused[i] *= SUPERSEDED_WEIGHT
        return self._select(snap, fused, dense, keyword, k)

    def _add_parts(
        self,
        snap: Snapshot,
        fused: dict[int, float],
        searches: Sequence[str],
        mask: np.ndarray | None,
        filters: Filters,
    ) -> None:
        """Fuse in the rankings of each part of a question with several, together as much as
        the whole question's: its words lean to one part ("How do I remove old files, and how
        long are they kept?" found the time-travel retention section before VACUUM's)."""
        vectors = self.embedder.embed([self.embedder.query_prefix + s for s in searches])
        for search, vector in zip(searches, vectors, strict=True):
            keyword = _keyword(snap, search, mask)
            ranked = self._fuse(snap, self._dense(snap, vector, mask, filters), keyword)
            for i, score in ranked.items():
                fused[i] = fused.get(i, 0.0) + score / len(searches)

    def _superseded_in(self, snap: Snapshot) -> np.ndarray:
        """Snapshot.superseded() for the pinned releases, worked out once per snapshot."""
        if self._superseded is None or self._superseded[0] is not snap:
            self._superseded = (snap, snap.superseded(self.pinned))
        return self._superseded[1]

    def _weigh(
        self,
        snap: Snapshot,
        fused: dict[int, float],
        question: Question,
        mask: np.ndarray | None,
    ) -> None:
        """Guides before reference entries, unless the question names a symbol: then that
        symbol's entry keeps its place beside the guides; the row that defines a quoted name,
        the guide passage that says what the term of "What is X?" is ("X is a ...") and chunks
        with the question's SQL keyword phrases (SORT BY) as written come first."""
        named = set(snap.named(question.code_names))
        for name in question.names:
            for i in snap.names.defining(name):
                if mask is None or mask[i]:
                    fused[i] = fused.get(i, 0.0) + DEFINED_BONUS
        if question.definition is not None:
            said = re.compile(
                rf"(?:^|(?<=[.!?:])\s+)(?:[-*]\s+)?{question.definition.pattern}", re.MULTILINE
            )
            for i in list(fused):
                if not snap.reference[i] and said.search(plain(snap.texts[i])):
                    fused[i] += DEFINED_BONUS
        phrases = question.phrases
        way = question.direction
        for i in fused:
            if snap.reference[i] and i not in named:
                fused[i] *= REFERENCE_WEIGHT
            if way:
                heading = str(snap.metas[i].get("heading_path", ""))
                if one_way(heading, HEADING_WAYS) not in ("", way):
                    fused[i] *= OPPOSITE_WEIGHT
            if phrases:
                text = snap.texts[i]
                fused[i] *= 1.0 + PHRASE_BOOST * sum(p in text for p in phrases) / len(phrases)

    def _dense(
        self, snap: Snapshot, query: np.ndarray, mask: np.ndarray | None, filters: Filters
    ) -> dict[int, float]:
        """Cosine scores of the best candidates among guides and among reference material: exact while
        the index is small, else Chroma's HNSW."""
        if len(snap) <= self.exact_limit:
            sims = snap.vectors @ query
            if mask is not None:
                sims = np.where(mask, sims, -np.inf)
            top = np.concatenate(
                [_top(np.where(pool, sims, -np.inf), CANDIDATES) for pool in snap.pools]
            )
            return {int(i): float(sims[i]) for i in top if np.isfinite(sims[i])}
        positions = {chunk_id: i for i, chunk_id in enumerate(snap.ids)}
        hits = self.store.query(query, CANDIDATES, filters.where())
        found = {positions[h.id]: h.score for h in hits if h.id in positions}
        # Chroma cannot filter by path prefix: apply the full mask to what it returns.
        return {i: score for i, score in found.items() if mask is None or mask[i]}

    def _fuse(
        self, snap: Snapshot, dense: dict[int, float], keyword: np.ndarray
    ) -> dict[int, float]:
        """Reciprocal rank fusion of the two rankings, ranked within guides and within reference
        material, so that thousands of API entries cannot push every guide down."""
        fused: dict[int, float] = {}
        for pool in snap.pools:
            ranked = sorted((i for i in dense if pool[i]), key=dense.__getitem__, reverse=True)
            for rank, i in enumerate(ranked):
                fused[i] = 1.0 / (RRF_K + rank + 1)
            pooled = np.where(pool, keyword, 0.0)
            for rank, i in enumerate(_top(pooled, CANDIDATES)):
                if pooled[i] <= 0:
                    break
                fused[int(i)] = fused.get(int(i), 0.0) + self.keyword_weight / (RRF_K + rank + 1)
        return fused

    def _select(
        self,
        snap: Snapshot,
        fused: dict[int, float],
        dense: dict[int, float],
        keyword: np.ndarray,
        k: int,
    ) -> list[Hit]:
        """The top k passages: none repeats text another already shows, and one file gives at
        most per_source of them before the other files get a turn."""
        picker = _Picker(snap, self.window)
        overflow: list[int] = []
        per_source: dict[str, int] = {}
        for i in sorted(fused, key=fused.__getitem__, reverse=True):
            if len(picker.chosen) >= k:
                break
            if picker.repeats(i):
                continue
            source = str(snap.metas[i].get("source", ""))
            if per_source.get(source, 0) >= self.per_source:
                overflow.append(i)
                continue
            per_source[source] = per_source.get(source, 0) + 1
            picker.take(i)
        for i in overflow:
            if len(picker.chosen) >= k:
                break
            if not picker.repeats(i):
                picker.take(i)
        return [
            snap.hit(
                i,
                fused[i],
                self.window,
                dense_score=dense.get(i, 0.0),
                keyword_score=float(keyword[i]),
            )
            for i in picker.chosen
        ]


class _Picker:
    """The passages chosen so far and the chunks and texts their windows already show."""

    def __init__(self, snap: Snapshot, window: int) -> None:
        self.snap = snap
        self.window = window
        self.chosen: list[int] = []
        self._shown: set[int] = set()
        self._hashes: set[str] = set()

    def repeats(self, i: int) -> bool:
        """Whether chunk i is already shown, word for word or nearly (cosine >= 0.98)."""
        if i in self._shown or str(self.snap.metas[i].get("hash", "")) in self._hashes:
            return True
        if not self.chosen or self.snap.vectors.shape[1] == 1:
            return False
        sims = self.snap.vectors[self.chosen] @ self.snap.vectors[i]
        return bool(np.max(sims) >= NEAR_DUPLICATE)

    def take(self, i: int) -> None:
        """Choose chunk i; the chunks its hit shows count as shown."""
        self.chosen.append(i)
        for j in self.snap.shown(i, self.window):
            self._shown.add(j)
            self._hashes.add(str(self.snap.metas[j].get("hash", "")))


def _keyword(snap: Snapshot, question: str, mask: np.ndarray | None) -> np.ndarray:
    """The keyword (BM25) score of each chunk for a question, 0 outside the filters' mask."""
    keyword = snap.keywords.scores(keyword_query(question))
    return keyword if mask is None else np.where(mask, keyword, 0.0)


def _goes_on(before: str, after: str) -> bool:
    """Whether a chunk's text continues the sentence its predecessor was cut in."""
    return bool(CUT_END.search(before) and CUT_START.match(after))


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest scores, best first."""
    n = min(n, len(scores))
    if n == 0:
        return np.zeros(0, dtype=int)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part])]
