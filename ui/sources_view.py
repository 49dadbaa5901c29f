"""An answer's sources, their text shown as text with the cited sentences highlighted; and the
names an answer makes up."""

from __future__ import annotations

from typing import Any

import streamlit as st

from rag.feedback import cited_claims, highlight_spans
from rag.models import Answer
from ui.safe_markdown import escape_markdown, is_web_url

PRODUCT_COLORS = {"spark": "orange", "delta": "blue", "mlflow": "violet", "team": "green"}


def show_unverified(answer: Answer) -> None:
    """A warning badge for names an LLM answer quotes that neither its passages nor the index
    hold: likely made up."""
    if answer.unverified:
        names = ", ".join(answer.unverified)
        st.badge("Unverified names", icon=":material/warning:", color="orange")
        st.caption(escape_markdown(f"Not in the passages or the index: {names}"))


def show_sources(answer: Answer) -> None:
    """The cited passages, numbered like the citations, with the cited sentences highlighted."""
    cited = answer.cited_hits()
    if answer.refused or not cited:
        return
    claims = cited_claims(answer)
    st.caption("Sources")
    for n, hit in cited:
        label = f"[{n}] {hit.release} · {hit.heading_path or hit.title or hit.source}"
        if hit.page:
            label += f", page {hit.page}"
        with st.expander(escape_markdown(label)):
            st.badge(escape_markdown(hit.product or "docs"), color=_color(hit.product))
            where = hit.source + (f", page {hit.page}" if hit.page else "")
            st.caption(escape_markdown(where))
            if is_web_url(hit.url):
                st.link_button("Open upstream", str(hit.url), icon=":material/open_in_new:")
            spans = highlight_spans(hit.text, claims.get(n, []))
            st.markdown(passage_markdown(hit.text, spans))


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
