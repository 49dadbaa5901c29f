"""Keyword search: a code-aware tokenizer and a BM25 index (bm25s) over chunk texts."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

# Identifiers keep their dots and dashes (spark.sql.shuffle.partitions, delta.feature.x).
TOKEN = re.compile(r"[A-Za-z0-9_]+(?:[.\-/][A-Za-z0-9_]+)*")
CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
SPLIT = re.compile(r"[._\-/]+")
STOPWORDS = frozenset(
    (  # noqa: SIM905 - a word list reads better as prose
        "a an and are as at be but by can do does for from has have how i if in into is it its me "
        "my no not of on or so such that the their then there these they this to was we what when "
        "where which while who why will with would you your should could use using"
    ).split()
)


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lowercased, stemmed words plus whole identifiers and their parts."""
    out: list[str] = []
    for match in TOKEN.finditer(text):
        raw = match.group()
        lower = raw.lower()
        compound = SPLIT.search(lower) is not None
        parts = SPLIT.split(raw) if compound else [raw]
        if compound:
            out.append(lower)  # the exact identifier is the strongest match
        for part in parts:
            pieces = CAMEL.findall(part)
            if len(pieces) > 1:
                out.append(part.lower())
            for piece in pieces or [part]:
                word = piece.lower()
                if word and word not in STOPWORDS:
                    out.append(_stem(word))
    return out


class KeywordIndex:
    """BM25 scores for every chunk, so results can be filtered and fused exactly."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
        self.size = len(texts)
        tokenized = [tokenize(t) or ["\x00"] for t in texts]
        self.doc_freq: Counter[str] = Counter(t for tokens in tokenized for t in set(tokens))
        self._prefixes: set[str] | None = None
        if texts:
            self._bm25.index(tokenized, show_progress=False)

    def knows_prefix(self, stem: str, length: int = 5) -> bool:
        """Whether some indexed word starts like this stem (kerberized ~ kerberos)."""
        if self._prefixes is None:
            self._prefixes = {t[:length] for t in self.doc_freq}
        return stem[:length] in self._prefixes

    def idf(self, token: str) -> float:
        """How rare a token is in the index (words it never saw count as rarest)."""
        return math.log(1 + self.size / (self.doc_freq.get(token, 0) + 0.5))

    def scores(self, query: str) -> np.ndarray:
        """A BM25 score per chunk (zeros when no query word is indexed)."""
        tokens = tokenize(query)
        if not self.size or not tokens:
            return np.zeros(self.size, dtype=np.float32)
        known = [t for t in tokens if t in self._bm25.vocab_dict]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
