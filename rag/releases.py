"""Which releases an answer comes from, and where the indexed releases of a symbol differ."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rag.models import Hit, release_of, symbol_of
from rag.retrieval import Snapshot

FENCED_PYTHON = re.compile(r"```python\n(.*?)\n```", re.DOTALL)
SPACE = re.compile(r"\s+")


def signature(text: str) -> str | None:
    """The signature an API entry opens with (its first python block, decorators left out)."""
    found = FENCED_PYTHON.search(text)
    if not found:
        return None
    lines = [line.strip() for line in found.group(1).splitlines()]
    kept = " ".join(line for line in lines if line and not line.startswith("@"))
    return SPACE.sub(" ", kept) or None


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """A sort key that puts 3.10.0 after 3.9.1."""
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.\-+]", version))


def signatures(snap: Snapshot, symbol: str) -> list[tuple[str, str]]:
    """(release, signature) of each indexed release's entry of a symbol, oldest release first."""
    first: dict[str, tuple[int, str]] = {}  # version -> (ordinal, text) of its first chunk
    labels: dict[str, str] = {}
    for i in snap.named([symbol]):
        meta, text = snap.metas[i], snap.texts[i]
        if symbol_of(meta) != symbol or not meta.get("version"):
            continue
        version = str(meta["version"])
        ordinal = int(meta.get("ordinal", 0))
        if version not in first or ordinal < first[version][0]:
            first[version] = (ordinal, text)
            labels[version] = release_of(meta)
    found = []
    for version in sorted(first, key=version_key):
        sig = signature(first[version][1])
        if sig:
            found.append((labels[version], sig))
    return found


def differences(snap: Snapshot, symbols: Sequence[str]) -> list[str]:
    """One line per symbol whose signature differs across the indexed releases."""
    lines = []
    for symbol in dict.fromkeys(symbols):
        found = signatures(snap, symbol)
        if len({sig for _, sig in found}) > 1:
            each = "; ".join(f"{label}: `{sig}`" for label, sig in found)
            lines.append(f"`{symbol}` differs across releases: {each}.")
    return lines


def release_line(hits: Sequence[Hit], pinned: Mapping[str, str]) -> str:
    """The releases of the passages an answer leads with ("Release: Delta Lake 3.3.2, the
    pinned one."), or "" when they name none. No [n] marker: the line quotes nothing."""
    labels: dict[str, bool] = {}
    for hit in hits:
        version = hit.metadata.get("version")
        if version:
            labels.setdefault(hit.release, pinned.get(hit.product) == str(version))
    if not labels:
        return ""
    named = ", ".join(f"{label} (pinned)" if mine else label for label, mine in labels.items())
    return f"{'Release' if len(labels) == 1 else 'Releases'}: {named}."
