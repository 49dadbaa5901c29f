"""Do "What is X?" questions lead with what the docs say X is?

Three counts on an index, each keyed by the docs themselves (no hand-written answers; another
seed draws another sample):
- symbols: API entries (the first chunk of an entry: signature, then docstring), asked "What
  does `X` do?" by full name; a lead (the answer's first 300 characters) counts when it holds the
  first sentence of the entry's docstring.
- foreign: of the answers to the symbols' questions, those that quote another entry than the
  one their passage was found for (before de19d4e a passage was widened into its neighbours,
  in the API reference other symbols' entries, each after its "name:" line).
- terms: guide sentences "X is a ..." / "X (ABC) are the ..." whose X is in their section's
  heading, asked "What is X?"; a lead counts when it says "X is a/an/the ..." itself.

    python bench/definitions.py --home .lakesage [--sample 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import re

from machine import describe, line  # bench/machine.py, beside this script

from rag.kb import KnowledgeBase
from rag.models import is_api, is_reference, symbol_of

# The probe's own patterns, not rag's: it must run against older code to compare.
SIGNATURE = re.compile(r"^```\w*\n(?:@|def |class |async def )")
FENCED = re.compile(r"^[ \t]*(`{3,})[^\n`]*\n.*?^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)
NOTE = re.compile(r"^(?:new in version|changed in version|deprecated|also available as)\b", re.I)
LEAD_CHARS = 300
ENTRY_LINE = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)+):$", re.MULTILINE)


def first_sentence(entry: str) -> str:
    """The first sentence of the docstring under an entry's signature ("" when too short)."""
    for paragraph in re.split(r"\n\s*\n", FENCED.sub("", entry, count=1)):
        paragraph = " ".join(paragraph.split())
        if paragraph and not NOTE.match(paragraph):
            sentence = re.split(r"(?<=[.!?])\s", paragraph)[0]
            return sentence if len(sentence.split()) >= 5 else ""
    return ""


TERM_DEFINED = re.compile(
    r"(?:^|(?<=[.!?] ))(?P<term>[A-Z][\w-]*(?: [\w-]+){0,3}) (?:\([A-Z]{2,}\) )?(?:is|are) "
    r"(?:a|an|the) [^.]{10,}\."
)
PRONOUNS = {"this", "it", "that", "there", "these", "those"}


def terms(kb: KnowledgeBase) -> list[str]:
    """The terms guide sentences define ("Z-Ordering is a technique ...") under a heading that
    names them."""
    snap = kb.retriever.snapshot()
    found = set()
    for text, meta in zip(snap.texts, snap.metas, strict=True):
        if is_reference(meta):
            continue
        heading = str(meta.get("heading_path", "")).lower()
        for match in TERM_DEFINED.finditer(" ".join(text.split())):
            term = match.group("term").removeprefix("A ").removeprefix("An ")
            if term.lower() in heading and term.lower() not in PRONOUNS:
                found.add(term)
    return sorted(found)


def defines(lead: str, term: str) -> bool:
    """Whether a lead says what the term is ("Z-Ordering is a ...")."""
    plain = re.sub(r"[`*_]", "", lead)
    return bool(
        re.search(rf"{re.escape(term)} (?:\([A-Z]{{2,}}\) )?(?:is|are) (?:a|an|the)\b", plain, re.I)
    )


def entries(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(symbol, first docstring sentence) of every entry whose first chunk the index holds."""
    snap = kb.retriever.snapshot()
    found = set()
    for text, meta in zip(snap.texts, snap.metas, strict=True):
        text = text.lstrip()
        if is_api(meta) and SIGNATURE.match(text) and (sentence := first_sentence(text)):
            found.add((symbol_of(meta), sentence))
    return sorted(found)


def lead(kb: KnowledgeBase, question: str) -> str:
    """The first LEAD_CHARS characters of the answer, spaces made single."""
    return " ".join(kb.ask(question).body[:LEAD_CHARS].split())


def own_entry(text: str, symbol: str, focus: list[int]) -> str:
    """The part of a widened API passage that is the found entry's own (whitespace single)."""
    start, end = 0, len(text)
    for match in ENTRY_LINE.finditer(text):
        if match.group(1) == symbol:
            continue
        if match.start() < focus[0]:
            start = focus[0]
        elif match.start() >= focus[1]:
            end = match.start()
            break
    return " ".join(text[start:end].split())


def quotes_another_entry(kb: KnowledgeBase, question: str) -> bool:
    """Whether the answer quotes an API passage's text from outside the passage's own entry."""
    selection = kb.select(question, kb.search(question, kb.settings.top_k))
    for piece in [*selection.lead, *selection.support]:
        hit = selection.hits[piece.n - 1]
        if not is_api(hit.metadata):
            continue
        focus = [int(x) for x in hit.metadata.get("focus") or [0, len(hit.text)]]
        own = own_entry(hit.text, symbol_of(hit.metadata), focus)
        if " ".join(piece.unit.text.split())[:60] not in own:
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=".lakesage", help="the index to ask")
    parser.add_argument("--sample", type=int, default=60, help="API entries to ask about")
    parser.add_argument("--seed", type=int, default=0, help="which sample")
    args = parser.parse_args()
    kb = KnowledgeBase.open(args.home)
    sample = random.Random(args.seed).sample(entries(kb), args.sample)
    symbols = sum(
        sentence[:50].lower() in lead(kb, f"What does `{symbol}` do?").lower()
        for symbol, sentence in sample
    )
    foreign = sum(quotes_another_entry(kb, f"What does `{symbol}` do?") for symbol, _ in sample)
    defined = terms(kb)
    said = sum(defines(lead(kb, f"What is {term}?"), term) for term in defined)
    machine = describe()
    print(line(machine))
    print(f"symbols: {symbols}/{len(sample)} leads hold the docstring's first sentence")
    print(f"foreign: {foreign}/{len(sample)} answers quote another entry than their passage's")
    print(f"terms: {said}/{len(defined)} leads say what the term is")
    report = {
        "seed": args.seed,
        "symbols": [symbols, len(sample)],
        "foreign": [foreign, len(sample)],
        "terms": [said, len(defined)],
    }
    print(json.dumps({"machine": machine, **report}))


if __name__ == "__main__":
    main()
