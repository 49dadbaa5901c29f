"""An answer's sources: each cited passage titled once, its text shown as text with the cited
sentences highlighted and its code as code blocks; the names an answer makes up, and the
deprecated API entries it cites."""

from __future__ import annotations

import textwrap
from typing import Any

import streamlit as st

from rag.deprecations import describe
from rag.feedback import cited_claims, highlight_spans
from rag.models import Answer, Hit
from rag.units import FENCED
from ui.safe_markdown import escape_markdown, is_web_url

PRODUCT_COLORS = {"spark": "orange", "delta": "blue", "mlflow": "violet", "team": "green"}


def show_unverified(answer: Answer) -> None:
    """A warning badge for names an LLM answer quotes that neither its passages nor the index
    hold: likely made up."""
    if answer.unverified:
        names = ", ".join(answer.unverified)
        st.badge("Unverified names", icon=":material/warning:", color="orange")
        st.caption(escape_markdown(f"Not in the passages or the index: {names}"))


def show_deprecated(answer: Answer) -> None:
    """A badge for an answer that cites deprecated API entries, and what their docs say."""
    if answer.deprecated:
        st.badge("Deprecated", icon=":material/history:", color="red")
        said = " ".join(describe(entry, quote=False) for entry in answer.deprecated)
        st.caption(escape_markdown(said))


def show_sources(answer: Answer) -> None:
    """The cited passages, numbered like the citations, with the cited sentences highlighted."""
    cited = answer.cited_hits()
    if answer.refused or not cited:
        return
    claims = cited_claims(answer)
    st.caption("Sources")
    for n, hit in cited:
        with st.expander(escape_markdown(source_label(n, hit))):
            st.badge(escape_markdown(hit.product or "docs"), color=_color(hit.product))
            where = hit.source + (f", {hit.place}" if hit.place else "")
            st.caption(escape_markdown(where))
            if is_web_url(hit.url):
                st.link_button("Open upstream", str(hit.url), icon=":material/open_in_new:")
            show_passage(hit.text, highlight_spans(hit.text, claims.get(n, [])))


def source_label(n: int, hit: Hit) -> str:
    """[n], the product and version, and where in the document: "[1] Delta Lake 4.0.0 ·
    Constraints > CHECK constraint, page 3" (or "cell 3" in a notebook)."""
    label = f"[{n}] {hit.release} · {hit.breadcrumb or hit.source}"
    return label + (f", {hit.place}" if hit.place else "")


def show_passage(text: str, spans: list[tuple[int, int]]) -> None:
    """A passage: its prose as literal Markdown with the spans highlighted, its fenced code as
    code blocks (which scroll sideways rather than widen the page)."""
    for kind, start, end in passage_parts(text):
        if kind == "code":
            language, code = fenced_code(text[start:end])
            st.code(code, language=language)
            continue
        prose = text[start:end]
        end = start + len(prose.rstrip())
        start += (
            prose[: len(prose) - len(prose.lstrip())].rfind("\n") + 1
        )  # whole lines: the first line keeps its indent
        inside = [
            (max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start
        ]
        st.markdown(passage_markdown(text[start:end], inside))


def passage_parts(text: str) -> list[tuple[str, int, int]]:
    """The passage as prose and fenced code, in order: each part's kind and character range."""
    parts = []
    at = 0
    for match in FENCED.finditer(text):
        parts += [("prose", at, match.start()), ("code", match.start(), match.end())]
        at = match.end()
    parts.append(("prose", at, len(text)))
    return [(kind, start, end) for kind, start, end in parts if text[start:end].strip()]


def fenced_code(block: str) -> tuple[str | None, str]:
    """A fenced block's language (None when it names none) and its code, fences taken off."""
    opening, *lines = block.strip("\n").splitlines()
    info = opening.strip().lstrip("`~").split()
    return (info[0] if info else None), textwrap.dedent("\n".join(lines[:-1]))


def passage_markdown(text: str, spans: list[tuple[int, int]]) -> str:
    """A passage as literal Markdown text, line breaks and indents kept, spans highlighted."""
    lines: list[list[tuple[str, bool]]] = [[]]
    position = 0
    for start, end in [*spans, (len(text), len(text))]:
        for piece, marked in ((text[position:start], False), (text[start:end], True)):
            for i, part in enumerate(piece.split("\n")):
                if i:
                    lines.append([])
                if part:
                    lines[-1].append((part, marked))
        position = end
    return "  \n".join(_line_markdown(parts) for parts in lines)


def _line_markdown(parts: list[tuple[str, bool]]) -> str:
    """One line: its indent as no-break spaces, highlighted parts on an orange background."""
    out = []
    for i, (part, marked) in enumerate(parts):
        if i == 0:
            body = part.lstrip(" \t")
            out.append(part[: len(part) - len(body)].replace("\t", "    ").replace(" ", "\u00a0"))
            part = body
        core = part.strip()
        if marked and core:
            lead = part[: len(part) - len(part.lstrip())]
            trail = part[len(part.rstrip()) :]
            out.append(f"{lead}:orange-background[{escape_markdown(core)}]{trail}")
        else:
            out.append(escape_markdown(part))
    return "".join(out)


def _color(product: str) -> Any:
    """The badge colour of a product."""
    return PRODUCT_COLORS.get(product, "gray")
