"""What a source yields: items that can be fingerprinted cheaply and parsed on demand."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from rag.models import Document


@dataclass(frozen=True)
class Item:
    """One file (or API module) of a source: its relative path, content fingerprint and parser."""

    source: str
    fingerprint: str
    load: Callable[[], Document]


def fingerprint(data: bytes) -> str:
    """A stable content fingerprint of raw bytes."""
    return hashlib.sha256(data).hexdigest()
