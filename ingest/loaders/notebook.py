"""Jupyter notebooks to blocks: Markdown cells read as Markdown, code cells as code, no outputs."""

from __future__ import annotations

import json
from typing import Any

from ingest.fence import fenced
from ingest.loaders.decoding import normalise
from ingest.loaders.markdown import add_markdown
from ingest.loaders.outline import Outline, collapse_blank_lines, has_words
from rag.errors import SourceError
from rag.models import Document


def parse_notebook(text: str, source: str) -> Document:
    """Jupyter notebooks: Markdown cells parsed as Markdown, code cells as code blocks."""
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{source}: malformed notebook JSON (line {exc.lineno}: {exc.msg}); "
            "re-save it from Jupyter"
        ) from None
    if not isinstance(notebook, dict):
        raise SourceError(f"{source}: not a Jupyter notebook (top level is not an object)")
    cells = notebook.get("cells")
    worksheets = notebook.get("worksheets")
    if (
        cells is None
        and isinstance(worksheets, list)
        and worksheets
        and isinstance(worksheets[0], dict)
    ):
        cells = worksheets[0].get("cells")  # nbformat 3
    if not isinstance(cells, list):
        raise SourceError(f"{source}: notebook has no 'cells' list; not a Jupyter notebook?")
    lang = _notebook_language(notebook.get("metadata"))
    outline = Outline(None, title_level=6)
    for number, cell in enumerate(cells, 1):
        kind, body = _cell(cell, source, number)
        outline.cell = number
        if kind == "markdown":
            add_markdown(outline, body)
        elif kind == "code" and body.strip():
            outline.add(fenced(collapse_blank_lines(normalise(body).strip("\n")), lang), code=True)
        elif kind == "raw" and has_words(body):
            outline.add(normalise(body).strip())
    return outline.document(source, "ipynb")


def _cell(cell: Any, source: str, number: int) -> tuple[str, str]:
    """(cell type, source text) of a notebook cell."""
    if not isinstance(cell, dict):
        raise SourceError(
            f"{source}: notebook cell {number} is not an object; re-save it from Jupyter"
        )
    body = cell.get("source", cell.get("input", ""))
    if isinstance(body, list) and all(isinstance(part, str) for part in body):
        body = "".join(body)
    if not isinstance(body, str):
        raise SourceError(
            f"{source}: notebook cell {number} has no text source; re-save it from Jupyter"
        )
    return str(cell.get("cell_type", "")), body


def _notebook_language(metadata: Any) -> str:
    """The notebook's programming language (default python)."""
    if isinstance(metadata, dict):
        for key, field in (("kernelspec", "language"), ("language_info", "name")):
            section = metadata.get(key)
            if (
                isinstance(section, dict)
                and isinstance(section.get(field), str)
                and section[field].strip()
            ):
                return str(section[field]).strip().lower()
    return "python"
