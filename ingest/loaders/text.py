"""Plain text to blocks: blank-line separated paragraphs, titled from the file name."""

from __future__ import annotations

import re

from ingest.loaders.decoding import normalise
from ingest.loaders.outline import Outline, dedent, has_words, title_from_filename
from rag.models import Document


def parse_text(text: str, source: str) -> Document:
    """Plain text: blank-line separated paragraphs."""
    outline = Outline(title_from_filename(source))
    for para in re.split(r"\n[ \t]*\n", normalise(text)):
        if has_words(para):
            outline.add("\n".join(dedent(para.strip("\n").split("\n"))))
    return outline.document(source, "txt")
