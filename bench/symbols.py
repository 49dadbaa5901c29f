"""Does "What does `X` do?" lead with what X's docstring says it does?

Samples API entries of an index (the first chunk of an entry: its signature, then its
docstring), asks about each by its full name, and counts the answers whose first 300
characters hold the first sentence of the entry's docstring. No hand-written answers: the
docstrings are the key, so the sample can be drawn again with another seed.

    python bench/symbols.py --home .lakesage [--sample 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import re

from machine import describe, line  # bench/machine.py, beside this script

from rag.kb import KnowledgeBase
from rag.models import is_api, symbol_of

SIGNATURE = re.compile(r"^```\w*\n(?:@|def |class |async def )")
FENCED = re.compile(r"^[ \t]*(`{3,})[^\n`]*\n.*?^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)
NOTE = re.compile(r"^(?:new in version|changed in version|deprecated|also available as)\b", re.I)
LEAD_CHARS = 300


def first_sentence(entry: str) -> str:
    """The first sentence of the docstring under an entry's signature ("" when too short)."""
    for paragraph in re.split(r"\n\s*\n", FENCED.sub("", entry, count=1)):
        paragraph = " ".join(paragraph.split())
        if paragraph and not NOTE.match(paragraph):
            sentence = re.split(r"(?<=[.!?])\s", paragraph)[0]
            return sentence if len(sentence.split()) >= 5 else ""
    return ""


def entries(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(symbol, first docstring sentence) of every entry whose first chunk the index holds."""
    snap = kb.retriever.snapshot()
    found = set()
    for text, meta in zip(snap.texts, snap.metas, strict=True):
        text = text.lstrip()
        if is_api(meta) and SIGNATURE.match(text) and (sentence := first_sentence(text)):
            found.add((symbol_of(meta), sentence))
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=".lakesage", help="the index to ask")
    parser.add_argument("--sample", type=int, default=60, help="entries to ask about")
    parser.add_argument("--seed", type=int, default=0, help="which sample")
    args = parser.parse_args()
    kb = KnowledgeBase.open(args.home)
    sample = random.Random(args.seed).sample(entries(kb), args.sample)
    held = 0
    for symbol, sentence in sample:
        lead = " ".join(kb.ask(f"What does `{symbol}` do?").body[:LEAD_CHARS].split())
        held += sentence[:50].lower() in lead.lower()
    machine = describe()
    print(line(machine))
    print(f"{held}/{len(sample)} leads hold the docstring's first sentence (seed {args.seed})")
    print(json.dumps({"machine": machine, "seed": args.seed, "asked": len(sample), "held": held}))


if __name__ == "__main__":
    main()
