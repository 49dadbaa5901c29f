"""The hash backend: deterministic vectors from the model's word pieces, with no weights loaded.

Each word piece the model would read (truncated as it truncates) and each pair of neighbouring
pieces adds +1 or -1 to one dimension chosen by a hash of its text (feature hashing). Texts sharing pieces get close vectors, so search behaves like keyword
matching; token counts, word checks and the chunk size are the real model's. It is for tests
and for trying the pipeline where loading a model is not worth it: it knows no meaning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from rag.embedder_base import BaseEmbedder

# An odd 64-bit constant (the golden ratio's), mixing a pair's two hashes into one.
PAIR_MIX = np.uint64(0x9E3779B97F4A7C15)
SIGN_BIT = np.uint64(63)


class HashEmbedder(BaseEmbedder):
    """Feature-hashed word pieces and piece pairs, in the real model's dimensions."""

    @cached_property
    def _piece_hashes(self) -> np.ndarray:
        """A 64-bit hash of every vocabulary piece's text, indexed by the piece's id."""
        vocab = self.tokenizer.vocab()
        hashes = np.zeros(max(vocab.values()) + 1, dtype=np.uint64)
        for piece, piece_id in vocab.items():
            digest = hashlib.blake2b(piece.encode("utf-8"), digest_size=8).digest()
            hashes[piece_id] = int.from_bytes(digest, "little")
        return hashes

    def embed_batch(self, texts: Sequence[str], encodings: Sequence[Any]) -> np.ndarray:
        """Signed counts of each text's hashed pieces and neighbouring pairs."""
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        dim = np.uint64(self.dim)
        for row, encoding in enumerate(encodings):
            ids = np.asarray(encoding.ids, dtype=np.int64)
            words = ids[np.asarray(encoding.special_tokens_mask) == 0]
            # [CLS] and [SEP] alone would pull every short text together; an empty text
            # keeps them, so that no row is all zeros.
            pieces = self._piece_hashes[words if words.size else ids]
            features = np.concatenate([pieces, pieces[:-1] * PAIR_MIX ^ pieces[1:]])
            signs = np.where(features >> SIGN_BIT, -1.0, 1.0)
            buckets = (features % dim).astype(np.int64)
            rows[row] = np.bincount(buckets, weights=signs, minlength=self.dim)
        return rows
