"""Bytes to text (byte-order marks, UTF-8 or legacy 8-bit, binary refused) and its lines tidied."""

from __future__ import annotations

import re

from rag.errors import SourceError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL_BYTES = frozenset(range(32)) - {9, 10, 12, 13} | {127}
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode(data: bytes, source: str) -> str:
    """Decode text bytes, refusing binary content and undecodable text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked_text(data.decode(encoding), source)
            except UnicodeDecodeError:
                raise SourceError(
                    f"{source}: invalid {encoding} text after its byte-order mark; re-save as UTF-8"
                ) from None
    if b"\x00" in data:
        raise SourceError(f"{source}: binary content (NUL bytes), not text; exclude the file")
    try:
        return _checked_text(data.decode("utf-8"), source)
    except UnicodeDecodeError:
        pass
    control = sum(1 for byte in data if byte in _CONTROL_BYTES)
    if control > len(data) * 0.01:
        raise SourceError(f"{source}: binary content, not text; exclude the file")
    high = sum(1 for byte in data if byte >= 0x80)
    # Legacy 8-bit text (cp1252/latin-1) has a few accented letters among ASCII; multi-byte
    # legacy encodings (Shift-JIS, GBK, ...) are mostly high bytes and cannot be guessed.
    if high > len(data) * 0.3:
        raise SourceError(f"{source}: not UTF-8 text; re-save as UTF-8")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return _checked_text(text, source)


def _checked_text(text: str, source: str) -> str:
    """Refuse decoded text that is mostly control characters or blank."""
    if len(_CONTROL_CHARS.findall(text)) > max(2, len(text) // 100):
        raise SourceError(f"{source}: binary content, not text; exclude the file")
    if not text.strip():
        raise SourceError(f"{source}: no text (only whitespace); add content or exclude it")
    return text


def normalise(text: str) -> str:
    """Unify newlines, strip trailing whitespace and drop our private placeholder marks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\ue000", "").replace("\ue001", "")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def one_line(exc: BaseException) -> str:
    """An exception as a short single line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
