"""Which API and config names the index knows: a name a question or an answer quotes is known
when the docs write it, when an API entry documents it, or when it is a chain of API members
(`spark.read.json`); otherwise the closest names the docs do write are at hand."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.models import release_of, symbol_of
from rag.question import Question, pasted

if TYPE_CHECKING:
    from rag.retrieval import Snapshot

DOTTED = re.compile(r"(?<![\w.])[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+")
# A method as the docs call it: spark.read.jdbc(...) makes jdbc a method.
CALLED = re.compile(r"\.([A-Za-z_]\w*)\(")
# The first cell of a table row defines its name: `spark.sql.shuffle.partitions` | 200 | ...
ROW_NAME = re.compile(r"^[ \t]*\|?[ \t]*`?([A-Za-z_][\w.-]*)`?[ \t]*\|", re.MULTILINE)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# A namespace is the first part of dotted names (spark., delta., mlflow.): only names in a
# namespace the docs use this many times are ours to call unknown; others are another stack's.
NAMESPACE_NAMES = 20
CLOSEST = 3
# Names that start like this many keys defined in the docs' tables are config keys.
CONFIG_ROWS = 3
# What the software prints and the asker pastes is no name they made up: an exception or error
# class (java.lang.OutOfMemoryError, io.delta.exceptions.ConcurrentAppendException) of the stack
# or of the runtimes it runs on (the JVM, Py4J for PySpark).
EXCEPTION = re.compile(r"[A-Z]\w*(?:Exception|Error)")
RUNTIMES = ("java.", "javax.", "scala.", "py4j.")


@dataclass(frozen=True)
class Unknown:
    """A name the index does not know, the closest names it does, and where they come from."""

    name: str
    closest: tuple[str, ...]
    release: str  # "Spark 4.0.1": the product and version of the docs searched


@dataclass
class Names:
    """The dotted names of an index as the docs spell them, and the API members it documents."""

    snapshot: Snapshot
    _spelled: dict[str, str] = field(default_factory=dict)  # lowercase -> as written
    _where: dict[str, int] = field(default_factory=dict)  # lowercase -> a chunk writing it
    _namespaces: Counter[str] = field(default_factory=Counter)
    _members: set[str] | None = None
    _heads: set[str] | None = None
    _defined: dict[str, list[int]] = field(default_factory=dict)  # lowercase -> chunks
    _defined_heads: Counter[str] = field(default_factory=Counter)  # "spark.sql." -> names

    def __post_init__(self) -> None:
        for i, text in enumerate(self.snapshot.texts):
            for match in ROW_NAME.finditer(text):
                defined = match.group(1).lower()
                if defined not in self._defined and defined.count(".") >= 2:
                    self._defined_heads[_head(defined)] += 1
                self._defined.setdefault(defined, []).append(i)
            for match in DOTTED.finditer(text):
                name = match.group().rstrip(".-")
                lowered = name.lower()
                if lowered not in self._spelled:
                    self._spelled[lowered] = name
                    self._where[lowered] = i
                    self._namespaces[lowered.split(".", 1)[0]] += 1

    @property
    def members(self) -> set[str]:
        """Methods and attributes: of the documented classes (read, json, vacuum), and those
        the docs' code calls (`.jdbc(`), for an index without API reference."""
        if self._members is None:
            self._members = set()
            for meta in self.snapshot.metas:
                parts = symbol_of(meta).split(".")
                if len(parts) > 1 and parts[-2][:1].isupper():
                    self._members.add(parts[-1].lower())
            for text in self.snapshot.texts:
                self._members.update(m.lower() for m in CALLED.findall(text))
        return self._members

    def defining(self, name: str) -> list[int]:
        """The chunks with a table row that defines the name (its first cell)."""
        return self._defined.get(name.lower(), [])

    @property
    def heads(self) -> set[str]:
        """The namespaces that are ours: the products indexed (spark, delta, mlflow), the
        packages of the API entries (pyspark) and any the docs use often."""
        if self._heads is None:
            self._heads = {str(m.get("product", "")).lower() for m in self.snapshot.metas}
            self._heads |= {symbol_of(m).split(".", 1)[0].lower() for m in self.snapshot.metas}
            self._heads |= {h for h, n in self._namespaces.items() if n >= NAMESPACE_NAMES}
            self._heads.discard("")
        return self._heads

    def ours(self, name: str) -> bool:
        """Whether a dotted name is in one of our namespaces (spark.*, not num.*)."""
        return "." in name and name.lower().split(".", 1)[0] in self.heads

    def known(self, name: str) -> bool:
        """Whether the docs write the name, an entry documents it, or it chains API members."""
        lowered = name.lower().removesuffix("()")
        if lowered in self._spelled or self.snapshot.keywords.doc_freq.get(lowered):
            return True
        if self.snapshot.named([name]):
            return True
        if self._config_like(lowered):
            return False  # a config key is known only as the docs write it
        # A method chain (spark.read.json): a known start, then members of documented classes.
        head, _, last = lowered.rpartition(".")
        return bool(head) and last in self.members and self.known(head)

    def _config_like(self, lowered: str) -> bool:
        """Whether a name starts like the config keys the docs' tables define (spark.sql.)."""
        return lowered.count(".") >= 2 and self._defined_heads[_head(lowered)] >= CONFIG_ROWS

    def unknown(self, question: Question) -> list[Unknown]:
        """The dotted names the question quotes in our namespaces that the index does not know,
        but for what the software printed (exceptions, stack frames)."""
        quoted = " ".join(question.text[a:b] for a, b in pasted(question.text))
        return [
            self.describe(name)
            for name in question.code_names
            if self.ours(name)
            and not self.known(name)
            and not self.printed(name)
            and name not in quoted
        ]

    def printed(self, name: str) -> bool:
        """Whether a dotted name is an exception or error class of the stack or its runtimes
        (java.lang.OutOfMemoryError): what logs print, not a name of another stack."""
        return _exception(name) and (self.ours(name) or name.lower().startswith(RUNTIMES))

    def foreign_exception(self, name: str) -> bool:
        """Whether a dotted name is an exception class of another stack
        (net.snowflake.client.jdbc.SnowflakeSQLException)."""
        return "." in name and _exception(name) and not self.printed(name)

    def unverified(self, text: str, passages: str) -> list[str]:
        """Names an answer quotes that are neither in its passages nor known to the index."""
        found: dict[str, None] = {}
        for span in CODE_SPAN.findall(text):
            for match in DOTTED.finditer(span):
                found.setdefault(match.group().rstrip(".-"))
        for match in DOTTED.finditer(CODE_SPAN.sub(" ", text)):
            name = match.group().rstrip(".-")
            if self.ours(name):
                found.setdefault(name)
        lowered = passages.lower()
        return [n for n in found if n.lower() not in lowered and not self.known(n)]

    def describe(self, name: str) -> Unknown:
        """An unknown name with the closest names the docs write in its namespace."""
        lowered = name.lower()
        head = lowered.split(".", 1)[0] + "."
        candidates = [
            n for n in self._spelled if n.startswith(head) and not lowered.startswith(f"{n}.")
        ]
        closest = difflib.get_close_matches(lowered, candidates, n=CLOSEST, cutoff=0.5)
        release = self._release(closest[0] if closest else None)
        return Unknown(name, tuple(self._spelled[c] for c in closest), release)

    def _release(self, name: str | None) -> str:
        """The product and version of the docs that write a name ("Spark 4.0.1")."""
        if name is None:
            return ""
        return release_of(self.snapshot.metas[self._where[name]])


def _exception(name: str) -> bool:
    """Whether a (dotted) name ends in an exception or error class."""
    return bool(EXCEPTION.fullmatch(name.rsplit(".", 1)[-1]))


def _head(lowered: str) -> str:
    """The first two parts of a dotted name, with the dot after them ("spark.sql.")."""
    return ".".join(lowered.split(".")[:2]) + "."
