"""The library entry point: a KnowledgeBase opened on a home folder, to search and to ask."""

from __future__ import annotations

import builtins
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.answer import (
    REFUSAL,
    AnswerEngine,
    LLMEngine,
    Turn,
    cited_numbers,
    heuristic_rewrite,
    make_engine,
    refusal_text,
    unknown_text,
)
from rag.deprecations import deprecations, of_extract, with_notes
from rag.embedding import Embedder, make_embedder, parse_identity
from rag.errors import IndexNotFoundError, ModelMismatchError, SettingsError
from rag.index_watch import NO_INDEX, IndexWatch, read_meta
from rag.keywords import STOPWORDS, KeywordIndex, tokenize
from rag.ledger import Ledger
from rag.models import Answer, Hit, symbol_of
from rag.packaged_models import DEFAULT_REFUSAL_THRESHOLD, packaged
from rag.personas import Persona, get_persona, list_personas
from rag.question import FRAMES, Question, is_stack_name, pasted, split_pasted, without_noise
from rag.releases import differences, release_line
from rag.retrieval import Filters, Retriever, Snapshot
from rag.selection import Selection, select
from rag.settings import Settings, load_settings, with_changes
from rag.store import STAMP, ChromaClients, ChromaStore

# Unit vectors kept between questions (about 1.5 KB each).
UNIT_VECTORS = 20_000
SAVED_SNAPSHOT = "snapshot.pickle"
# A name's words count as written out in the docs only when each is this long.
MIN_SPELLED = 3
# A word, or a name written with dots or underscores, whole with a hyphened start
# (hive-site.xml, delta-spark_2.13): "pretty-printed" is two words.
WORD = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9]*-)*[A-Za-z][A-Za-z0-9]*(?:[._][A-Za-z0-9]+)+|[A-Za-z][A-Za-z0-9]*"
)
# A capitalised word after another word (not an acronym, not a sentence's first word): a name
# the question gives, of a product, tool or place ("the Flink checkpoint interval").
PROPER_NAME = re.compile(r"(?<=[\w,;:)] )[A-Z][a-z][A-Za-z0-9]+")
# An acronym the question gives (EMR, DBU, RA3; DPUs): counted as a name only when the docs
# name it at most RARE_ACRONYM times (in a link or an aside) and it is no word written in
# capitals (CHECK, MERGE), since frequent ones (SQL, JVM, RDD) are the stack's own vocabulary.
ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]+s?\b")
RARE_ACRONYM = 2
# Where a question names the asker's own tables: after a SQL keyword written in capitals
# (FROM sales.orders, OPTIMIZE web.sessions) or as the table a reader or writer is given
# (.table("bronze.events"), saveAsTable("vendor.orders_raw")).
DATA_NAME = re.compile(
    r"\b(?:FROM|INTO|TABLE|JOIN|UPDATE|OPTIMIZE|VACUUM|HISTORY)\s+`?([A-Za-z_][\w.]*)"
    r"|\.(?:table|saveAsTable|insertInto|toTable|forName)\(\s*(?:spark,\s*)?[\"']([^\"'\n]+)"
)
# A class name (PipelineModel): when the docs define it, the passages need not repeat it.
CAMEL_CASE = re.compile(r"[a-z][A-Z]")
# Python's own exceptions (AttributeError, KeyError): how a symptom is described, not a name of
# another stack the passages should mention.
PYTHON_ERRORS = frozenset(
    name.lower() for name in dir(builtins) if name.endswith(("Error", "Exception", "Warning"))
)
# What a view may change: these shape the answers, not the model, index or store views share.
ANSWER_SETTINGS = frozenset(
    {
        "persona",
        "engine",
        "top_k",
        "refusal_threshold",
        "refusal_unknown_penalty",
        "refusal_absent_name_penalty",
        "refusal_coverage_weight",
        "llm_base_url",
        "llm_model",
        "llm_api_key",
        "databricks_host",
        "databricks_token",
        "llm_timeout",
        "llm_context_window",
        "llm_max_tokens",
    }
)
# A secret set for an endpoint, by the setting naming that endpoint.
ENDPOINT_SECRETS = {"llm_base_url": "llm_api_key", "databricks_host": "databricks_token"}


class AnswerStream:
    """Iterate for the answer's text pieces; `answer` holds the full Answer once it is done."""

    def __init__(self, pieces: Iterator[str], finish: Any) -> None:
        self._pieces = pieces
        self._finish = finish
        self._parts: list[str] = []
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            self._parts.append(piece)
            yield piece
        self.answer = self._finish("".join(self._parts))


@dataclass
class _Loaded:
    """What a knowledge base and its views share: the model, the retriever and its snapshot,
    the vectors of quoted units, and the lock that keeps askers from loading them twice."""

    embedder: Embedder | None
    clients: ChromaClients
    watch: IndexWatch
    retriever: Retriever | None = None
    built_at: Any = None
    unit_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


class KnowledgeBase:
    """Hybrid search over the index and grounded, cited answers through a persona."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        clients: ChromaClients | None = None,
    ) -> None:
        clients = clients or ChromaClients()
        self.settings = settings_for_index(settings or load_settings(), clients)
        self._loaded = _Loaded(embedder, clients, IndexWatch(self.settings, clients))

    @classmethod
    def open(cls, home: str | None = None, **overrides: Any) -> KnowledgeBase:
        """Open the index in a home folder (default: the settings' home)."""
        return cls(load_settings(home=home, **overrides))

    def with_settings(self, **changes: Any) -> KnowledgeBase:
        """A view with other answer settings (engine, persona, top_k, refusal, LLM endpoint),
        sharing this one's model, index and caches; an endpoint other than the configured one
        gets none of the configured secrets unless given its own."""
        others = sorted(set(changes) - ANSWER_SETTINGS)
        if others:
            raise SettingsError(
                f"{', '.join(others)}: not an answer setting; open another KnowledgeBase for it"
            )
        changes = {k: v for k, v in changes.items() if v != getattr(self.settings, k)}
        if not changes:
            return self
        for endpoint, secret in ENDPOINT_SECRETS.items():
            if endpoint in changes:
                changes.setdefault(secret, None)
        view = type(self).__new__(type(self))
        # Not __init__: it would read the index's metadata again, and load nothing shared.
        view.settings = with_changes(self.settings, **changes)
        view._loaded = self._loaded
        return view

    @property
    def embedder(self) -> Embedder:
        """The query embedder, loaded on first use."""
        loaded = self._loaded
        if loaded.embedder is None:
            with loaded.lock:
                if loaded.embedder is None:
                    loaded.embedder = make_embedder(self.settings)
        return loaded.embedder

    @property
    def retriever(self) -> Retriever:
        """The retriever, refreshed when an ingest has finished since it was built; no I/O
        while the index stays as it was."""
        loaded = self._loaded
        stamp = loaded.watch.stamp()
        if stamp is NO_INDEX:
            raise self._no_index()
        with loaded.lock:
            if loaded.retriever is None:
                loaded.retriever = Retriever(
                    lambda: ChromaStore(self.settings, loaded.clients),
                    self.embedder,
                    saved=self.settings.cache_dir / SAVED_SNAPSHOT,
                    stamp=lambda: loaded.built_at,
                    keyword_weight=self.settings.keyword_weight,
                    per_source=self.settings.per_source,
                    window=self.settings.passage_window,
                    pinned=self.settings.releases,
                )
            elif stamp != loaded.built_at:
                loaded.retriever.refresh()
            loaded.built_at = stamp
            return loaded.retriever

    def status(self) -> dict[str, Any]:
        """What the index holds: files and chunks per product and source, model, last run."""
        if self.settings.chroma_url:  # the server's own account, current for every reader
            published = ChromaStore(self.settings, self._loaded.clients).published()
            if published and "files" in published:
                return {key: value for key, value in published.items() if key != STAMP}
        if not self.settings.ledger_path.exists():
            raise self._no_index()
        ledger = Ledger(self.settings.ledger_path)
        try:
            return ledger.summary()
        finally:
            ledger.close()

    def _no_index(self) -> IndexNotFoundError:
        """The error for a home folder with no index yet."""
        if self.settings.chroma_url:
            return IndexNotFoundError(
                f"no index at {self.settings.chroma_url}; run `ingest` with LAKESAGE_CHROMA_URL set"
            )
        return IndexNotFoundError(
            f"no index in {self.settings.home}; run `ingest` first (or set LAKESAGE_HOME)"
        )

    def personas(self) -> list[str]:
        """Names of the persona cards available."""
        return list_personas(self.settings.personas_dir)

    def persona(self, name: str | None = None) -> Persona:
        """A persona card by name (default: the settings' persona)."""
        return get_persona(name or self.settings.persona, self.settings.personas_dir)

    def search(self, question: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Ranked passages for a question."""
        retriever = self.retriever
        question = without_noise(question)
        # Through the unit vectors: the answer's selection embeds the question again.
        query = self._embed_units([self.embedder.query_prefix + question])[0]
        return retriever.search(question, k, filters, query)

    def ask(
        self,
        question: str,
        *,
        persona: str | None = None,
        history: Sequence[Turn] = (),
        filters: Filters | None = None,
        engine: str | None = None,
        k: int | None = None,
    ) -> Answer:
        """Answer a question, grounded in the retrieved passages, with citations."""
        stream = self.ask_stream(
            question, persona=persona, history=history, filters=filters, engine=engine, k=k
        )
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def ask_stream(
        self,
        question: str,
        *,
        persona: str | None = None,
        history: Sequence[Turn] = (),
        filters: Filters | None = None,
        engine: str | None = None,
        k: int | None = None,
    ) -> AnswerStream:
        """Like ask(), but the answer text is yielded as it is produced (an LLM answer's
        deprecation notes, known once the model has cited, are in the Answer's text only)."""
        card = self.persona(persona)
        answerer = self.engine(engine)
        search_query = without_noise(
            answerer.rewrite(question, history)
            if isinstance(answerer, LLMEngine)
            else heuristic_rewrite(question, history)
        )
        found = self.search(search_query, k or self.settings.top_k, filters)
        snapshot = self.retriever.snapshot()
        names = snapshot.names
        unknown = names.unknown(Question(search_query)) if found else []
        refused = bool(unknown) or not self.confident(search_query, found)
        one_release = bool(filters and filters.versions)  # asked about one release: that one only
        selection = (
            Selection(hits=found)
            if refused
            else self._select(question, found, search_query, snapshot.keywords)
        )
        if not refused:
            selection.deprecated = of_extract(selection, search_query)
            led = [selection.hits[n - 1] for n in dict.fromkeys(p.n for p in selection.lead)]
            if not one_release:
                selection.notes = self._differences(search_query, led, snapshot)
            selection.footer = release_line(led or selection.used, self.settings.releases)
        hits = answerer.passages(selection)
        if unknown:
            pieces: Iterator[str] = iter([unknown_text(card, unknown)])
        elif refused:
            pieces = iter([refusal_text(card)])
        else:
            pieces = answerer.stream(question, selection, card, history)

        def finish(text: str) -> Answer:
            declined = refused or REFUSAL.lower() in text.lower()
            first = text.partition("\n")[0]
            framing = first if first.startswith(card.framing().rstrip()) else ""
            checked = isinstance(answerer, LLMEngine) and not declined
            citations = [] if refused else cited_numbers(text, len(hits))
            if declined:
                deprecated = []
            elif checked:  # known once the model has cited: the notes go in after it wrote
                deprecated = deprecations(hits, citations)
            else:  # the extractive engine wrote the selection's notes first
                deprecated = selection.deprecated
            releases = "" if declined else selection.footer
            differ = [] if declined else selection.notes
            noted = text
            if checked:  # notes, differences and releases known once the model has cited
                cited = [hits[n - 1] for n in citations]
                releases = release_line(cited, self.settings.releases)
                differ = [] if one_release else self._differences(search_query, cited, snapshot)
                noted = with_notes(text, framing, deprecated)
                for line in [*differ, releases]:
                    noted = f"{noted.rstrip()}\n\n{line}" if line else noted
            return Answer(
                question=question,
                text=noted,
                hits=hits,
                citations=citations,
                refused=declined,
                engine=answerer.name,
                persona=card.name,
                search_query=search_query,
                framing=framing,
                unknown=[u.name for u in unknown],
                unverified=names.unverified(text, " ".join(h.text for h in hits))
                if checked
                else [],
                deprecated=deprecated,
                releases=releases,
                differences=differ,
            )

        return AnswerStream(pieces, finish)

    def _differences(self, question: str, quoted: Sequence[Hit], snapshot: Snapshot) -> list[str]:
        """The signatures that differ across the indexed releases of the symbols of the passages
        an answer quotes (the extractive lead, an LLM's citations) or the question names."""
        named = [
            symbol_of(snapshot.metas[i]) for i in snapshot.named(Question(question).code_names)
        ]
        symbols = [symbol_of(hit.metadata) for hit in quoted]
        return differences(snapshot, [s for s in [*symbols, *named] if s])

    def select(self, question: str, hits: Sequence[Hit], *, context: str = "") -> Selection:
        """The lead and supporting units of the passages, scored with the loaded model; a
        follow-up is answered with its standalone form as context."""
        if not hits:
            return Selection(hits=[])
        return self._select(question, hits, context, self.retriever.snapshot().keywords)

    def _select(
        self, question: str, hits: Sequence[Hit], context: str, keywords: KeywordIndex
    ) -> Selection:
        """select() with the index's keywords at hand, on the question without a pasted log's
        noise."""
        question, context = without_noise(question), without_noise(context)
        context = "" if context == question else context
        return select(
            question,
            hits,
            embed=self._embed_units,
            idf=keywords.idf,
            context=context,
            query_prefix=self.embedder.query_prefix,
        )

    def _embed_units(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of quotable units, remembered: the same passages answer many questions."""
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        memory = self._loaded.unit_vectors
        # A local copy: another asker may clear the shared memory meanwhile.
        found = {t: v for t in texts if (v := memory.get(t)) is not None}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = dict(zip(missing, self.embedder.embed(missing), strict=True))
            found.update(fresh)
            if len(memory) + len(fresh) > UNIT_VECTORS:
                memory.clear()
            memory.update(fresh)
        return np.stack([found[t] for t in texts])

    def engine(self, name: str | None = None) -> AnswerEngine:
        """The answer engine by name (default: the settings' engine)."""
        from rag.llm import make_chat_client

        chosen = name or self.settings.engine
        settings = self.settings.model_copy(update={"engine": chosen})
        return make_engine(chosen, lambda: make_chat_client(settings))

    def confident(self, question: str, hits: Sequence[Hit]) -> bool:
        """Whether the best passages are close enough to the question to answer from."""
        return self.confidence(question, hits) >= self.refusal_threshold

    @property
    def refusal_threshold(self) -> float:
        """The confidence answers need: the settings' value, else the one calibrated for the
        embedding model (cosines of different models are on different scales)."""
        if self.settings.refusal_threshold is not None:
            return self.settings.refusal_threshold
        model = packaged(self.settings.embed_model)
        return model.refusal_threshold if model else DEFAULT_REFUSAL_THRESHOLD

    def confidence(self, question: str, hits: Sequence[Hit]) -> float:
        """Best dense similarity of the top passages plus the rarity-weighted share of
        the question's words they contain, less the terms the docs never use and the names
        its asking sentences give that the passages never mention: off-corpus questions name
        things the docs never do, or that the passages found are not about ("the Flink
        checkpoint interval" answered from Spark's); a statement's names ("Our server runs on
        Postgres.") only say how the asker works."""
        if not hits:
            return 0.0
        best = max(float(h.metadata.get("dense_score", 0.0)) for h in hits[:3])
        snap = self.retriever.snapshot()
        keywords = snap.keywords
        data = self._data_names(question, keywords)
        words = self._said_words(question, keywords, data)
        if not words:
            return best
        passages = " ".join(f"{hit.heading_path} {hit.text}" for hit in hits[:3])
        found = words & set(tokenize(passages))
        weights = {w: keywords.idf(w) for w in words}
        coverage = sum(weights[w] for w in found) / sum(weights.values())
        unknown = self._unknown_terms(question, snap, data)
        lowered = passages.lower()
        asked = Question(question).asked
        absent = {
            name
            for name in PROPER_NAME.findall(asked)
            if not _mentions(lowered, name.lower())
            and not (CAMEL_CASE.search(name) and name.lower() in keywords.doc_freq)
            and name.lower() not in STOPWORDS
            and not is_stack_name(name)  # PySpark, SQL: how it is asked, not what
            and name.lower() not in PYTHON_ERRORS
        } | {
            name
            for name in ACRONYM.findall(asked)
            if not _mentions(lowered, name.lower()) and self._rare_acronym(name, keywords)
        }
        return (
            best
            + self.settings.refusal_coverage_weight * coverage
            - self.settings.refusal_unknown_penalty * min(2, len(unknown))
            - self.settings.refusal_absent_name_penalty * min(2, len(absent))
        )

    def _data_names(self, question: str, keywords: KeywordIndex) -> set[str]:
        """The asker's own names (lowercased), which no passage holds: the tables it reads and
        writes (see DATA_NAME), and snake_case names of ordinary words the docs never use
        (fact_orders, dim_store; not stg_orders). Another stack's settings may look alike
        (execution_timeout): its other terms still tell."""
        found = {
            (m.group(1) or m.group(2)).strip("`").lower() for m in DATA_NAME.finditer(question)
        }
        for match in re.finditer(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", question):
            name = match.group()
            words = name.split("_")
            if name not in keywords.doc_freq and all(
                len(w) >= MIN_SPELLED and w.isalpha() and self.embedder.is_word(w) for w in words
            ):
                found.add(name)
        return found

    @staticmethod
    def _said_words(question: str, keywords: KeywordIndex, names: set[str]) -> set[str]:
        """The question's words the passages can be expected to hold: not the asker's own
        names (tables, columns, hosts, file ids) in a pasted error or code that the docs never
        use, nor the asker's names it gives (`names`, see _data_names)."""
        data = {t for name in names for t in tokenize(name) if t not in keywords.doc_freq}
        if not pasted(question, blocks=True):
            return set(tokenize(question)) - data
        rest, quoted = split_pasted(question)
        # The asker's own names (a column the error prints) may be said around it too.
        data |= {w for w in tokenize(" ".join(quoted)) if w not in keywords.doc_freq}
        # No passage need hold the frames of a stack trace: the code they name is the stack's
        # inside, which tells retrieval where, not what the answer says.
        said = FRAMES.sub(" ", " \n".join(quoted))
        return set(tokenize(" ".join(rest))) - data | set(tokenize(said)) - data

    def _rare_acronym(self, name: str, keywords: KeywordIndex) -> bool:
        """Whether an acronym is one the docs hardly use, and no word written in capitals."""
        word = name.lower()
        tokens = tokenize(word)
        return (
            bool(tokens)
            and keywords.doc_freq.get(tokens[0], 0) <= RARE_ACRONYM
            and not self.embedder.is_word(word)
            and not is_stack_name(name)
        )

    def unknown_terms(self, question: str) -> list[str]:
        """Names in the question that the docs never use and that are no ordinary word:
        the tools, products and settings of another stack (dbt, Snowpipe, num.io.threads)."""
        snap = self.retriever.snapshot()
        return self._unknown_terms(question, snap, self._data_names(question, snap.keywords))

    def _unknown_terms(self, question: str, snap: Snapshot, data: set[str]) -> list[str]:
        """unknown_terms() against an index's snapshot already at hand, but for the asker's
        own names (`data`, see _data_names)."""
        keywords = snap.keywords
        unknown = []
        spans = pasted(question, blocks=True)
        quoted = " ".join(question[a:b] for a, b in spans).lower()
        for match in WORD.finditer(question):
            raw = match.group().lower()
            parts = tokenize(raw)
            if not parts or raw in STOPWORDS or raw in data:
                continue
            if any(a <= match.start() < b for a, b in spans):
                # What a pasted error or code names is the software's or the asker's own,
                # but another stack's exception (net.snowflake...SnowflakeSQLException).
                if not snap.names.foreign_exception(match.group()):
                    continue
            elif raw in quoted:
                continue  # the asker's own name, which the pasted error prints too
            if "." in raw or "_" in raw:
                segments = raw.split(".")
                last = segments[-1]
                words = re.split(r"[._]", raw)
                # The whole identifier; the attribute a chain ends in when that is a name of
                # its own (run.info.run_uuid: the docs write run_uuid; spark.sql.foo.bar: no);
                # a known name under a prefix (kafka.auto.offset.reset: the docs write
                # auto.offset.reset); or words the docs write out (_corrupt_record: "corrupt
                # records"), when none is so short it could hide in any longer word (g.1x).
                known = (
                    parts[0] in keywords.doc_freq
                    or snap.names.printed(match.group())  # java.lang.OutOfMemoryError
                    or snap.names.known(match.group())  # an API entry, a chain of members
                    or ("." in raw and "_" in last and last in keywords.doc_freq)
                    or any(
                        ".".join(segments[k:]) in keywords.doc_freq
                        for k in range(1, len(segments) - 1)
                    )
                    or (min(map(len, words)) >= MIN_SPELLED and snap.spells(words))
                )
                if not known:
                    unknown.append(raw)
            elif not keywords.knows_prefix(parts[0]) and not self.embedder.is_word(raw):
                unknown.append(raw)
        return unknown


def _mentions(text: str, name: str) -> bool:
    """Whether lowercased text names a lowercased name, in the singular too (DataFrames)."""
    return name in text or (name.endswith("s") and len(name) > 4 and name[:-1] in text)


def settings_for_index(settings: Settings, clients: ChromaClients | None = None) -> Settings:
    """The settings with the embedding backend the index was built with, so questions are
    embedded as its chunks were; an index of another model is an error naming the fix. A
    server's metadata is read through the caller's clients, else through a client of its own."""
    built = read_meta(settings, "model", clients or ChromaClients())
    if not built:
        return settings
    model, backend = parse_identity(str(built))
    if model != settings.embed_model:
        raise ModelMismatchError(
            f"the index in {settings.chroma_url or settings.home} was built with {model!r}, "
            f"not {settings.embed_model!r}; "
            f"set LAKESAGE_EMBED_MODEL={model} or run `ingest --rebuild`"
        )
    if backend == settings.embed_backend:
        return settings
    return settings.model_copy(update={"embed_backend": backend})
