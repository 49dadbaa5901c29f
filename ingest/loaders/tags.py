"""HTML and JSX tags out of text: the words between them stay, and so do text-like props."""

from __future__ import annotations

import re

from ingest.loaders.html import MAX_TAG_CHARS
from ingest.loaders.outline import words

_TAG_NAME = re.compile(r"[A-Za-z][\w.:-]*+")
_ATTR_NAME = re.compile(r"[^\s=/>{}\"'<]++")
_UNQUOTED = re.compile(r"[^\s>]++")
_SPACES = re.compile(r"\s*+")

_BRACE_TOKEN = re.compile(r"[{}\"]")
_TEXT_KEYS = re.compile(
    r"\b(?:title|description|text|headerText)\s*:\s*\"([^\"\\]*(?:\\.[^\"\\]*)*)\""
)
_TEXT_ATTRS = frozenset({"title", "description", "text", "headerText", "alt", "caption"})
_HTML_TAGS = words(
    "a abbr address article aside b big blockquote body br caption center cite code col "
    "colgroup dd del details dfn div dl dt em figcaption figure font footer h1 h2 h3 h4 "
    "h5 h6 head header hr html i iframe img input ins kbd label li main mark nav ol p "
    "picture pre q s samp section small source span strike strong sub summary sup table "
    "tbody td tfoot th thead time tr tt u ul var video wbr"
)
_BLOCK_TAGS = words(
    "address article aside blockquote body br caption center dd details div dl dt "
    "figcaption figure footer h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section "
    "summary table tbody td tfoot th thead tr ul"
)


def _skip_spaces(text: str, j: int, limit: int) -> int:
    """The index of the first non-space character at or after j (before limit)."""
    match = _SPACES.match(text, j, limit)
    return match.end() if match else j


def strip_tags(text: str, *, jsx: bool) -> str:
    """Text with its HTML tags (and with jsx, any JSX tag or fragment) replaced by what they say:
    inline-code backticks for <code>, a line break for block tags, the text of text-like props."""
    return _TagStripper(text, mdx=jsx).run()


class _TagStripper:
    """Removes HTML/JSX tags from prose, keeping the text between them and text-like props."""

    def __init__(self, text: str, *, mdx: bool, depth: int = 0) -> None:
        self.text = text
        self.mdx = mdx
        self.depth = depth
        # A work budget keeps the scan linear even when many '<' start unterminated tags.
        self.budget = 5 * len(text) + 1000

    def run(self) -> str:
        """The text with tags replaced."""
        text = self.text
        out: list[str] = []
        pos = 0
        while True:
            start = text.find("<", pos)
            if start < 0:
                out.append(text[pos:])
                return "".join(out)
            out.append(text[pos:start])
            parsed = self._tag(start) if self.budget > 0 else None
            if parsed is None:
                out.append("<")
                pos = start + 1
            else:
                pos, replacement = parsed
                out.append(replacement)

    def _tag(self, start: int) -> tuple[int, str] | None:
        """(end, replacement) for a well-formed tag at start, else None."""
        text = self.text
        if start and text[start - 1] == "\\":  # an escaped '<' is text
            return None
        limit = min(len(text), start + MAX_TAG_CHARS)
        j = start + 1
        closing = text.startswith("/", j)
        j += closing
        if text.startswith(">", j):  # JSX fragment <> or </>
            return (j + 1, "") if self.mdx else None
        match = _TAG_NAME.match(text, j, limit)
        if match is None:
            return None
        name = match.group()
        known = name.lower() in _HTML_TAGS
        if not known and not self.mdx:
            return None
        j = match.end()
        if j < len(text) and not (text[j].isspace() or text[j] in "/>"):
            return None
        attrs = self._attributes(j, limit, closing)
        self.budget -= (attrs[0] if attrs else limit) - start
        if attrs is None:
            return None
        end, props, self_closing = attrs
        return end, self._replacement(name.lower() if known else name, props, closing, self_closing)

    def _attributes(
        self, j: int, limit: int, closing: bool
    ) -> tuple[int, list[tuple[str, str, str]], bool] | None:
        """Parse attributes up to the tag end: (end, [(name, kind, value)], self-closing)."""
        text = self.text
        props: list[tuple[str, str, str]] = []
        while True:
            j = _skip_spaces(text, j, limit)
            if text.startswith("/>", j):
                return j + 2, props, True
            if text.startswith(">", j):
                return j + 1, props, False
            if closing or j >= limit:
                return None
            if text[j] == "{":
                end = self._braces(j, limit)
                if end < 0:
                    return None
                props.append(("", "expr", text[j + 1 : end - 1]))
                j = end
                continue
            match = _ATTR_NAME.match(text, j, limit)
            if match is None:
                return None
            name = match.group()
            j = _skip_spaces(text, match.end(), limit)
            if not text.startswith("=", j):
                props.append((name, "flag", ""))
                continue
            j = _skip_spaces(text, j + 1, limit)
            value = self._value(j, limit)
            if value is None:
                return None
            j, kind, raw = value
            props.append((name, kind, raw))

    def _value(self, j: int, limit: int) -> tuple[int, str, str] | None:
        """(end, kind, raw) of an attribute value at j."""
        text = self.text
        quote = text[j : j + 1]
        if quote in ('"', "'"):
            end = text.find(quote, j + 1, limit)
            return None if end < 0 else (end + 1, "str", text[j + 1 : end])
        if quote == "{":
            end = self._braces(j, limit)
            return None if end < 0 else (end, "expr", text[j + 1 : end - 1])
        match = _UNQUOTED.match(text, j, limit)
        return None if match is None else (match.end(), "str", match.group())

    def _braces(self, j: int, limit: int) -> int:
        """The index after the brace matching the one at j (strings skipped), or -1."""
        text = self.text
        depth = 0
        k = j
        while True:
            match = _BRACE_TOKEN.search(text, k, limit)
            if match is None:
                return -1
            char = match.group()
            k = match.end()
            if char == '"':
                close = text.find('"', k, limit)
                if close < 0:
                    return -1
                k = close + 1
            elif char == "{":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return k

    def _replacement(
        self, name: str, props: list[tuple[str, str, str]], closing: bool, self_closing: bool
    ) -> str:
        """What a tag turns into: inline-code backticks, a line break, prop text or nothing."""
        if name == "code":
            return "`"
        texts = [] if closing else self._prop_texts(props, self_closing)
        if texts and name.lower() == "aside" and not self_closing:
            # <Aside title="Important"> heads its text: "Important: Enabling ...".
            title = "\n".join(texts)
            return f"{title}:" if title[-1].isalnum() else title
        if texts:
            return "\n".join(texts)
        return "\n" if name in _BLOCK_TAGS else ""

    def _prop_texts(self, props: list[tuple[str, str, str]], self_closing: bool) -> list[str]:
        """Human-readable text carried in props (titles, descriptions, JSX fragments)."""
        texts: list[str] = []
        for name, kind, raw in props:
            if kind == "str" and name in _TEXT_ATTRS and raw.strip():
                texts.append(" ".join(raw.split()))
            elif kind == "str" and name == "fn" and self_closing:
                texts.append(f"`{raw}`")
            elif kind == "expr" and raw.strip().startswith("<") and self.depth < 2:
                inner = _TagStripper(raw, mdx=self.mdx, depth=self.depth + 1).run()
                if inner.strip():
                    texts.append(" ".join(inner.split()))
            elif kind == "expr":
                texts.extend(" ".join(m.group(1).split()) for m in _TEXT_KEYS.finditer(raw))
        return [text for text in texts if text]
