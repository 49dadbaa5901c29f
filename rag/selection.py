"""Passage selection: score every quotable unit of the retrieved passages against the question
(the embedding model and the lexical signal together), pick the lead that answers each part of
the question and a few supporting units, and keep only the passages they come from."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.keywords import tokenize
from rag.models import Deprecation, Hit, is_api, is_reference, symbol_matches, symbol_of
from rag.question import PRODUCTS, RAISED, SPACE, Question, affirmed, plain
from rag.units import FENCED, INLINE_CODE, Unit, passage_units

Embed = Callable[[Sequence[str]], np.ndarray]
Idf = Callable[[str], float]

# A quantity: a number standing alone ("10 seconds", "200", "75%"), not the digits of a name or
# a version (delta-spark_2.12, 3.2.0).
NUMBER = re.compile(r"(?<![\w.\-/])\d+(?:[.,]\d+)?%?(?![\w\-/]|\.\w)")
CONFIG_NAME = re.compile(
    r"`[^`\s]+`|\b[a-z][\w-]*(?:\.[a-zA-Z][\w-]*){2,}\b|\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b"
)
ERROR_NAME = re.compile(r"\b\w+(?:Exception|Error)\b")
REASON = re.compile(r"\b(?:because|so that|since|to avoid|otherwise|which means|as a result)\b")
# "Use ...", "To do X, set ...", "... by setting ...": a sentence that says what to do.
INSTRUCTION = re.compile(
    r"^(?:to [^,]{3,80}, )?(?:you (?:can|must|should|need to) )?(?:use|set|run|call|add|enable|"
    r"disable|specify|pass|configure|install|start|create|alter|launch|register|include|import|"
    r"point|replace|upgrade|define|apply|read|write|load)\b|\bby (?:setting|using|running|"
    r"calling|adding|passing|specifying|enabling)\b",
    re.IGNORECASE,
)
# "This enables ...", "It also ...": a sentence that leans on the one before it, which a lead
# does not show.
ANAPHORA = re.compile(r"^(?:this|that|these|those|it|they|its|their|such)\b", re.IGNORECASE)
# "(`spark.executor.memory` configuration property) and ...", "for all the columns of ...": a
# sentence that a chunk boundary cut, or an aside, starts mid-thought. (A list item may start in
# lower case: it continues its lead-in, which is shown with it.)
FRAGMENT = re.compile(r"^(?:[(),;:]|[a-z]+\b(?![._(]))")
# "For API information, see ...", "Please refer to ...", "This section shows how to ...": a
# pointer to the answer, not the answer.
REFERRAL = re.compile(
    r"^(?:for (?:more|further|additional|api|full|detailed|complete)?\s*"
    r"(?:information|details|guidance|examples?|usage)?[^,.]{0,100}, )?"
    r"(?:please )?(?:see|refer to|check out|visit|consult)\b"
    r"|^(?:this|the following|these|the next) (?:sections?|pages?|guides?|documents?|articles?|"
    r"tutorials?|examples?|notebooks?|steps?) (?:shows?|describes?|explains?|covers?|"
    r"demonstrates?|walks?|introduces?|outlines?|discusses?|lists?)\b",
    re.IGNORECASE,
)
# A name a reader would type: dotted, underscored or hyphenated, or camelCase / PascalCase.
IDENTIFIER = re.compile(
    r"\b[A-Za-z_]\w*(?:[._-]\w+)+\b|\b[a-z]+[A-Z]\w*\b|\b[A-Z][a-z0-9]+[A-Z]\w*\b"
)
OUTPUT_LINE = re.compile(
    rf"^\s*(?:\d{{4}}[-/]\d\d[-/]\d\d|Traceback|File \"|[+|][-+=]{{3}}|[|├└─]|{RAISED})"
)
# What ingest writes above a docstring ("New in version 1.3.0.", "Also available as ...").
VERSION_NOTE = re.compile(
    r"^(?:new in version|changed in version|deprecated|also available as)\b", re.IGNORECASE
)
# A unit's score is a weighted sum of these signals. The weights started from a logistic
# regression of which units of the retrieved passages hold the dev set's answers, rounded, then
# set by hand for code in the question's language and for output blocks. bench/fit_unit_weights.py
# says how often the top unit holds the answer with them (about 46% on the default index) and
# what a cross-validated refit would give.
WEIGHTS = {
    "dense": 1.2,  # cosine of question (part) and unit, with the loaded embedding model
    "lexical": 1.4,  # rarity-weighted share of the question's words the unit contains
    "part": 0.2,  # ... of the words of the part being answered
    "defines": 1.0,  # a row whose first cell is a name the question quotes, or the summary
    # of the API entry of one
    "quotes": 0.2,  # the unit quotes a name the question quotes
    "value": 0.6,  # a number or default, for a question after a value
    "config": 0.2,  # a config key, for a question after a setting
    "error": 0.9,  # an exception name, for a question after an error
    "code_asked": 0.35,  # code, for a question after code
    "inline_asked": 0.45,  # inline code, for a question after code
    "reason": 0.6,  # a reason, for a why question
    "focus": 0.4,  # from the chunk that matched, not its neighbours
    "rank": 2.4,  # 1/(1 + passage rank)
    "reference": -0.55,  # from reference material (an API entry, a specification)
    "row": -0.4,  # a table row
    "code": 0.9,  # a code block
    "instruction": 0.65,  # says what to do
    "concrete": 0.45,  # holds inline code or code
    "length": 0.35,  # its length, up to 600 characters
    "output": -1.0,  # a code block of output (logs, tracebacks, tables)
    "language": 0.3,  # code in the language the question prefers
    "dependent": 0.0,  # needs what came before: points back ("This enables ..."), or a fragment
    "referral": 0.0,  # points elsewhere for the answer ("For details, see ...")
    "corroborated": 0.0,  # names a rare identifier that other retrieved passages name too
    "other_product": -0.5,  # from another product than the one the question names
}
# The lead states the answer, short: a sentence, item or row beats code (code that a leading
# sentence introduces still follows it), the shorter of two near equals wins, it must read on its
# own (not point back, start mid-sentence or point elsewhere), the name it gives is one the
# other passages confirm, and what defines a name the question asks about (its row, its API
# entry's summary) says what it is first. (Corroboration in the support's score too drew
# support from other documents than the lead's: more noise, for one keyword more.)
LEAD_WEIGHTS = {
    **WEIGHTS,
    "code": -0.6,
    "length": -0.9,
    "dependent": -0.6,
    "referral": -0.6,
    "corroborated": 0.5,
    "defines": 3.0,
}
MAX_EMBEDDED = 16
# The answer to "which setting / function / command" tends to recur across the documents that
# discuss the question (a config key in the guide, its table row and the migration notes), while
# a name that one passage happens to mention does not. Counted for names rarer than this
# (idf), not already in the question, in up to CORROBORATION_CAP other passages.
CORROBORATION_IDF = 4.0
CORROBORATION_CAP = 3
# A unit may be quoted when it holds this share of the question's (rarity-weighted) words, or
# its meaning is this close to the question's.
MIN_COVERAGE = 0.2
MIN_DENSE = 0.45
# The lead takes the best unit for each part of the question (that is about it), then
# runners-up of the same passage within LEAD_MARGIN, up to LEAD_UNITS units and LEAD_CHARS
# characters; support fills the answer, best units first, up to ANSWER_CHARS characters and
# MAX_SUPPORT units (eight let in more pieces of other documents than answers: on the dev set,
# five kept every keyword the answers held and raised the share of pieces from gold documents).
LEAD_MARGIN = 0.35
LEAD_UNITS = 3
LEAD_CHARS = 320
MAX_SUPPORT = 5
ANSWER_CHARS = 800
MAX_LIST_ITEMS = 5
LIST_CHARS = 450
COHERENCE = 0.15
# Support leans to the documents the lead quotes: a document answers in one place, and a
# passage of another one that merely shares the question's words adds noise. Another
# document's unit is support only when it scores within OTHER_DOCUMENT_MARGIN of the lead (on
# the default index this raised the share of pieces from gold documents from 0.80 to 0.86 on
# the dev set and from 0.77 to 0.82 on ours, every keyword the dev answers held kept).
DOCUMENT_COHERENCE = 0.6
OTHER_DOCUMENT_MARGIN = 0.5
MAX_CODE_LINES = 15
EXCLUDED_LANGUAGES = frozenset({"scala", "java", "r"})


@dataclass(frozen=True)
class Piece:
    """A unit chosen for the answer, with the passage number it cites (1-based) and, for a
    sentence that leads into code, that code."""

    unit: Unit
    n: int
    code: Unit | None = None
    items: tuple[Unit, ...] = ()  # of a list item quoted with its list: the list's items


@dataclass
class Selection:
    """The passages an answer is built from, numbered [1..] in order of first use, and the
    units chosen: the lead (one per part of the question) and the support."""

    hits: list[Hit]
    lead: list[Piece] = field(default_factory=list)
    support: list[Piece] = field(default_factory=list)
    deprecated: list[Deprecation] = field(default_factory=list)  # said first (rag.deprecations)
    notes: list[str] = field(default_factory=list)  # said after the lead (releases differ)
    footer: str = ""  # said last (the releases quoted)

    @property
    def pieces(self) -> list[Piece]:
        """Lead then support."""
        return self.lead + self.support

    @property
    def used(self) -> list[Hit]:
        """The passages the lead and support come from, in citation order."""
        return self.hits[: max((p.n for p in self.pieces), default=0)]


@dataclass
class _Scored:
    unit: Unit
    parts: list[float]  # score against each part of the question
    answers: list[bool]  # whether it is about each part of the question
    lead_parts: list[float]  # ... as a lead (LEAD_WEIGHTS)

    @property
    def best(self) -> float:
        return max(self.parts)

    @property
    def lead_best(self) -> float:
        return max(self.lead_parts)


def select(
    question: str,
    hits: Sequence[Hit],
    *,
    embed: Embed | None = None,
    idf: Idf | None = None,
    context: str = "",
    query_prefix: str = "",
) -> Selection:
    """Choose the lead and support units of the passages, and the passages they come from;
    `context` is the standalone form of a follow-up question, whose words count too, and
    `query_prefix` what the embedding model wants before a question."""
    asked = Question(question, context)
    units = _candidates(asked, hits)
    if not units:
        return Selection(hits=list(hits))
    found = signals(asked, hits, units, embed, idf or (lambda _word: 1.0), query_prefix)
    scored = _score(units, found)
    if not scored:
        return Selection(hits=list(hits))
    code_after = _code_after(asked, units)
    # "... as follows:" says nothing without what follows (a table or code not quoted).
    introduces = {(u.hit, u.lead_in) for u in units if u.lead_in}
    scored = [
        s
        for s in scored
        if s.unit.code or not s.unit.text.endswith(":") or (s.unit.hit, s.unit.text) in introduces
    ]
    if not scored:
        return Selection(hits=list(hits))

    lists = _lists(units)

    def size(unit: Unit) -> int:
        """Characters a unit takes in the answer, with the code or list it leads into."""
        code = None if unit.code else code_after.get((unit.hit, unit.text))
        intro = len(unit.lead_in) if unit.kind == "item" else 0
        listed = sum(len(i.text) for i in _shown_items(unit, lists, in_lead=False))
        return len(unit.text) + intro + (len(code.text) if code else 0) + listed

    def has_code(unit: Unit) -> bool:
        return unit.code or (unit.hit, unit.text) in code_after

    # The lead states; output (logs, a traceback) and what only introduces it are support.
    stated = [s for s in scored if not _shows_output(s.unit, code_after)]
    lead = _lead(asked, stated or scored, size)
    if not lead:
        return Selection(hits=list(hits))
    support = _support(asked, scored, lead, size, has_code, [hit.source for hit in hits])
    return _number(hits, lead, support, code_after, lists)


def _candidates(asked: Question, hits: Sequence[Hit]) -> list[Unit]:
    """The units worth quoting: code, and the prose of code tabs, only in the question's
    languages; no repeats."""
    excluded = EXCLUDED_LANGUAGES - asked.asked_languages
    seen: set[str] = set()
    out: list[Unit] = []
    for i, hit in enumerate(hits):
        heading = hit.heading_path.rsplit(" > ", 1)[-1]
        for unit in passage_units(hit.text, i, heading, titles=not is_api(hit.metadata)):
            key = _normal(unit.text)
            if key in seen or unit.language in excluded:
                continue
            seen.add(key)
            out.append(unit)
    return out


def _score(units: list[Unit], found: list[list[dict[str, float]]]) -> list[_Scored]:
    """The relevant units, each with its score against each part of the question: its
    weighted signals (`found`, from signals()). A unit is relevant when it shares enough of the
    question's words or meaning, or quotes a name the question quotes; the passage's rank alone
    is not enough."""
    scored = []
    for unit, parts in zip(units, found, strict=True):
        answers = [_relevant(part) for part in parts]
        if any(answers):
            scored.append(
                _Scored(unit, _weigh(parts, WEIGHTS), answers, _weigh(parts, LEAD_WEIGHTS))
            )
    return scored


def _weigh(parts: list[dict[str, float]], weights: dict[str, float]) -> list[float]:
    """The weighted sum of the signals of each part."""
    return [sum(weights[name] * v for name, v in part.items()) for part in parts]


def _relevant(signals: dict[str, float]) -> bool:
    """Whether a unit's signals show it is about the question (or define a name it asks about)."""
    return (
        signals["part"] >= MIN_COVERAGE
        or signals["dense"] >= MIN_DENSE
        or signals["quotes"] > 0
        or signals["defines"] > 0
    )


def signals(
    asked: Question,
    hits: Sequence[Hit],
    units: list[Unit],
    embed: Embed | None,
    idf: Idf,
    query_prefix: str = "",
) -> list[list[dict[str, float]]]:
    """For each unit and each part of the question, the signals its score weighs."""
    unit_words = [frozenset(tokenize(_scored_text(u))) for u in units]
    whole = _coverage(asked.words, unit_words, idf)
    per_part = [_coverage(p.words, unit_words, idf) for p in asked.parts]
    common = [_common(asked, u, hits[u.hit]) for u in units]
    for k in [*_summaries(asked, hits, units), *_definitions(asked, units)]:
        common[k]["defines"] = 1.0
    for k, value in enumerate(_corroboration(asked, hits, units, idf)):
        common[k]["corroborated"] = value
    cheap = [
        max(col) + whole[k] + sum(WEIGHTS[n] * v for n, v in common[k].items())
        for k, col in enumerate(zip(*per_part, strict=True))
    ]
    dense = _dense(asked, units, cheap, embed, query_prefix)
    return [
        [
            {
                **common[k],
                **_kind_signals(part.kinds, unit),
                "dense": dense[j][k],
                "lexical": whole[k],
                "part": per_part[j][k],
            }
            for j, part in enumerate(asked.parts)
        ]
        for k, unit in enumerate(units)
    ]


def _common(asked: Question, unit: Unit, hit: Hit) -> dict[str, float]:
    """The signals of a unit that are the same for every part of the question."""
    text = unit.text
    return {
        "focus": _in_focus(unit, hit),
        "rank": 1.0 / (1.0 + unit.hit),
        "reference": 1.0 if is_reference(hit.metadata) else 0.0,
        "row": 1.0 if unit.kind == "row" else 0.0,
        "code": 1.0 if unit.code else 0.0,
        "language": _language_fit(asked, unit),
        "output": 1.0 if unit.code and _looks_like_output(unit) else 0.0,
        "instruction": 1.0 if not unit.code and INSTRUCTION.search(text) else 0.0,
        "dependent": float(_dependent(unit)),
        "referral": 1.0 if unit.kind in ("sentence", "item") and REFERRAL.match(text) else 0.0,
        "concrete": 1.0 if unit.code or INLINE_CODE.search(text) else 0.0,
        "length": min(len(text), 600) / 600,
        "other_product": _other_product(asked, hit),
        **_name_signals(asked, unit),
    }


def _other_product(asked: Question, hit: Hit) -> float:
    """1 when the question names one product ("Spark SQL: ...") and the passage documents
    another; team notes and questions naming none or several are no one's."""
    named = asked.products
    return float(len(named) == 1 and hit.product in PRODUCTS and hit.product not in named)


def _corroboration(
    asked: Question, hits: Sequence[Hit], units: list[Unit], idf: Idf
) -> list[float]:
    """For each unit, how many other retrieved passages name one of its rare identifiers that
    the question does not (up to CORROBORATION_CAP), as a share of the cap."""
    question = asked.full.lower()
    texts = [hit.text.lower() for hit in hits]
    out = []
    for unit in units:
        best = 0
        for name in {m.group().lower() for m in IDENTIFIER.finditer(_scored_text(unit))}:
            if name in question or idf(name) < CORROBORATION_IDF:
                continue
            others = sum(1 for k, text in enumerate(texts) if k != unit.hit and name in text)
            best = max(best, others)
        out.append(min(best, CORROBORATION_CAP) / CORROBORATION_CAP)
    return out


def _dependent(unit: Unit) -> bool:
    """Whether a sentence or item, or the sentence that leads into a code block, needs what
    came before it to be read."""
    if unit.code and unit.lead_in:
        return bool(FRAGMENT.match(unit.lead_in) or ANAPHORA.match(unit.lead_in))
    if unit.kind == "sentence" and FRAGMENT.match(unit.text):
        return True
    return unit.kind in ("sentence", "item") and bool(ANAPHORA.match(unit.text))


def _language_fit(asked: Question, unit: Unit) -> float:
    """1 for code in the language the question prefers, 0.5 in another it accepts, else 0."""
    if not unit.code or unit.language not in asked.languages:
        return 0.0
    return 1.0 if unit.language == asked.languages[0] else 0.5


def _shows_output(unit: Unit, code_after: dict[tuple[int, str], Unit]) -> bool:
    """Whether a unit is output, or a sentence that leads into output."""
    shown = unit if unit.code else code_after.get((unit.hit, unit.text))
    return shown is not None and _looks_like_output(shown)


def _looks_like_output(unit: Unit) -> bool:
    """Whether a code block shows output (logs, tracebacks, tables, trees) rather than code."""
    body = unit.text.split("\n")[1:-1]
    return unit.language in ("", "text", "console", "log", "output") and (
        any(OUTPUT_LINE.match(line) for line in body) or not body
    )


def _dense(
    asked: Question,
    units: list[Unit],
    cheap: list[float],
    embed: Embed | None,
    query_prefix: str = "",
) -> list[list[float]]:
    """Cosine of each part with each unit, for the units the cheap signals rank highest (the
    rest get 0: embedding every sentence of six passages costs more than it changes)."""
    parts = asked.parts
    out = [[0.0] * len(units) for _ in parts]
    if embed is None:
        return out
    chosen = sorted(range(len(units)), key=lambda k: -cheap[k])[:MAX_EMBEDDED]
    texts = [query_prefix + affirmed(asked.full if len(parts) == 1 else p.text) for p in parts]
    vectors = embed(texts + [_embedded_text(units[k]) for k in chosen])
    sims = vectors[: len(texts)] @ vectors[len(texts) :].T
    for j in range(len(parts)):
        for col, k in enumerate(chosen):
            out[j][k] = float(sims[j, col])
    return out


def _lead(asked: Question, scored: list[_Scored], size: Callable[[Unit], int]) -> list[_Scored]:
    """The best unit for each part of the question (a part already answered adds nothing;
    later parts lean to the passage that answered the first, as a document answers in one
    place), then close runners-up of that passage that read there (one that points back only
    right after what it points to), up to LEAD_UNITS short units."""
    lead: list[_Scored] = []
    for j in range(len(asked.parts)):
        home = lead[0].unit.hit if lead else None
        ranked = sorted(
            scored, key=lambda s: -(s.lead_parts[j] + (COHERENCE if s.unit.hit == home else 0.0))
        )
        best = next((s for s in ranked if s not in lead and not _attached(s.unit, lead)), None)
        if best is not None and (not lead or best.answers[j]):
            lead.append(best)
    top = max(s.lead_best for s in lead)
    used = sum(size(s.unit) for s in lead)
    for s in sorted(scored, key=lambda s: -s.lead_best):
        if len(lead) >= LEAD_UNITS or s.lead_best < top - LEAD_MARGIN:
            break
        unit = s.unit
        if s in lead or unit.code or unit.hit != lead[0].unit.hit or _attached(unit, lead):
            continue
        if _dependent(unit) and not any(
            other.unit.hit == unit.hit and other.unit.position == unit.position - 1
            for other in lead
        ):
            continue  # it points back to something the lead does not show
        if used + size(unit) > LEAD_CHARS:
            continue
        lead.append(s)
        used += size(unit)
    # Code with no lead-in of its own reads after the statement of its passage that the lead
    # quotes with it (code with a lead-in is shown under it already).
    prose = {s.unit.hit for s in lead if not s.unit.code}
    return sorted(lead, key=lambda s: s.unit.code and not s.unit.lead_in and s.unit.hit in prose)


def _support(
    asked: Question,
    scored: list[_Scored],
    lead: list[_Scored],
    size: Callable[[Unit], int],
    has_code: Callable[[Unit], bool],
    sources: list[str],
) -> list[_Scored]:
    """The best remaining units while the answer stays within ANSWER_CHARS, those of the lead's
    documents first among near equals, another document's only when it scores close to the
    lead; one code block in the answer at most (two, from two passages, for a question that
    asks for code)."""
    chosen: list[_Scored] = []
    used = sum(size(s.unit) for s in lead)
    blocks = 2 if "code" in asked.kinds else 1
    homes = {sources[s.unit.hit] for s in lead}
    floor = max(s.best for s in lead) - OTHER_DOCUMENT_MARGIN

    def rank(s: _Scored) -> float:
        return s.best + (DOCUMENT_COHERENCE if sources[s.unit.hit] in homes else 0.0)

    for s in sorted(scored, key=rank, reverse=True):
        if len(chosen) >= MAX_SUPPORT:
            break
        unit = s.unit
        shown = [*lead, *chosen]
        if s in shown or _attached(unit, shown) or used + size(unit) > ANSWER_CHARS:
            continue
        if sources[unit.hit] not in homes and s.best < floor:
            continue  # another document, answering less well than the lead: noise
        if _sibling_row(unit, lead):
            continue  # the row the question asked about is shown; its neighbours are not support
        if has_code(unit) and (
            unit.text.count("\n") > MAX_CODE_LINES
            or sum(has_code(c.unit) for c in shown) >= blocks
            or any(has_code(c.unit) and c.unit.hit == unit.hit for c in shown)
        ):
            continue  # and one per passage: a long block cut in two is not two examples
        chosen.append(s)
        used += size(unit)
    return chosen


def _number(
    hits: Sequence[Hit],
    lead: list[_Scored],
    support: list[_Scored],
    code_after: dict[tuple[int, str], Unit],
    lists: dict[tuple[int, str], list[Unit]],
) -> Selection:
    """Number the passages in the order the answer first cites them; uncited ones follow."""
    order: list[int] = []
    for s in [*lead, *support]:
        if s.unit.hit not in order:
            order.append(s.unit.hit)
    number = {hit: n for n, hit in enumerate(order, 1)}
    rest = [i for i in range(len(hits)) if i not in number]

    def piece(unit: Unit, *, in_lead: bool = False) -> Piece:
        code = None if unit.code else code_after.get((unit.hit, unit.text))
        return Piece(unit, number[unit.hit], code, _shown_items(unit, lists, in_lead=in_lead))

    return Selection(
        hits=[hits[i] for i in order + rest],
        lead=[piece(s.unit, in_lead=True) for s in lead],
        support=[piece(s.unit) for s in support],
    )


def _shown_items(
    unit: Unit, lists: dict[tuple[int, str], list[Unit]], *, in_lead: bool
) -> tuple[Unit, ...]:
    """The list items quoted with a unit: for a list item in the lead, its list when short
    (else itself); for a sentence that introduces a list ("... the following option:"), the
    first items that fit, since the sentence says nothing without them."""
    if unit.kind == "item" and unit.lead_in:
        if not in_lead:
            return ()
        siblings = lists.get((unit.hit, unit.lead_in), [unit])
        short = len(siblings) <= MAX_LIST_ITEMS and sum(len(u.text) for u in siblings) <= LIST_CHARS
        return tuple(siblings) if short else (unit,)
    if unit.kind != "sentence" or not unit.text.endswith(":"):
        return ()
    items: list[Unit] = []
    used = 0
    for item in lists.get((unit.hit, unit.text), [])[:MAX_LIST_ITEMS]:
        if items and used + len(item.text) > LIST_CHARS:
            break
        items.append(item)
        used += len(item.text)
    return tuple(items)


def _lists(units: list[Unit]) -> dict[tuple[int, str], list[Unit]]:
    """The items of each introduced list, by passage and introducing sentence."""
    lists: dict[tuple[int, str], list[Unit]] = {}
    for unit in units:
        if unit.kind == "item" and unit.lead_in:
            lists.setdefault((unit.hit, unit.lead_in), []).append(unit)
    return lists


def _code_after(asked: Question, units: list[Unit]) -> dict[tuple[int, str], Unit]:
    """For each sentence that leads into code, the code block in the question's language."""
    runs: dict[tuple[int, str], list[Unit]] = {}
    for unit in units:
        if unit.code and unit.lead_in:
            runs.setdefault((unit.hit, unit.lead_in), []).append(unit)
    rank = {lang: k for k, lang in enumerate(asked.languages)}
    return {
        key: min(run, key=lambda u: (rank.get(u.language, len(rank)), u.position))
        for key, run in runs.items()
    }


def _coverage(words: frozenset[str], unit_words: list[frozenset[str]], idf: Idf) -> list[float]:
    """The rarity-weighted share of words each unit contains."""
    if not words:
        return [0.0] * len(unit_words)
    weights = {w: idf(w) for w in words}
    total = sum(weights.values()) or 1.0
    return [sum(weights[w] for w in words & found) / total for found in unit_words]


def _name_signals(asked: Question, unit: Unit) -> dict[str, float]:
    """Whether the unit quotes the code-like names of the question, and whether it is the row
    that defines one (its first cell)."""
    quotes = defines = 0.0
    text = unit.text.lower()
    for name in asked.names:
        lowered = name.lower()
        if lowered in text:
            quotes += 1.0 / len(asked.names)
            if unit.kind == "row" and unit.cells and unit.cells[0].strip("` ").lower() == lowered:
                defines = 1.0
    return {"quotes": quotes, "defines": defines}


def _summaries(asked: Question, hits: Sequence[Hit], units: list[Unit]) -> list[int]:
    """The units that say what a symbol the question names is, when it asks what the symbol is
    or does: the first sentence of its API entry's docstring, after the signature and version
    notes (as a row defines a config key). In a how-to question the symbol is a means, and its
    summary no answer."""
    if not asked.asks_what:
        return []
    summaries = {
        i: _summary(hit)
        for i, hit in enumerate(hits)
        if is_api(hit.metadata)
        and any(symbol_matches(symbol_of(hit.metadata), n) for n in asked.code_names)
    }
    return [
        k
        for k, unit in enumerate(units)
        if unit.kind == "sentence"
        and summaries.get(unit.hit, "").startswith(SPACE.sub(" ", unit.text))
    ]


def _definitions(asked: Question, units: list[Unit]) -> list[int]:
    """The sentences that say what the term of a "What is X?" question is: "Z-Ordering is a
    technique ...", "Adaptive Query Execution (AQE) is an ...", "Deletion vectors are a ..."."""
    if asked.definition is None:
        return []
    return [
        k
        for k, unit in enumerate(units)
        if unit.kind in ("sentence", "item") and asked.definition.match(plain(unit.text))
    ]


def _summary(hit: Hit) -> str:
    """The first paragraph of the docstring of an API entry's passage (whitespace made single
    spaces), when the passage holds the entry's start, its signature, at the top (a passage is
    widened only within its entry); else ""."""
    entry = hit.text
    if not entry.lstrip().startswith("```"):
        return ""
    for paragraph in re.split(r"\n\s*\n", FENCED.sub("", entry.lstrip(), count=1)):
        paragraph = paragraph.strip()
        if paragraph and not VERSION_NOTE.match(paragraph):
            return SPACE.sub(" ", paragraph)
    return ""


def _kind_signals(kinds: frozenset[str], unit: Unit) -> dict[str, float]:
    """Whether the unit holds the kind of content the part asks for (a value, a config name,
    an exception, code, a reason)."""
    text = unit.text
    wants_code = "code" in kinds
    return {
        "value": float("value" in kinds and bool(NUMBER.search(text) or "default" in text.lower())),
        "config": float("config" in kinds and bool(CONFIG_NAME.search(text))),
        "error": float("error" in kinds and bool(ERROR_NAME.search(text))),
        "code_asked": float(wants_code and unit.code),
        "inline_asked": float(wants_code and not unit.code and bool(INLINE_CODE.search(text))),
        "reason": float("reason" in kinds and bool(REASON.search(text.lower()))),
    }


def _in_focus(unit: Unit, hit: Hit) -> float:
    """1 when the unit comes from the chunk that matched, not its neighbours."""
    span = hit.metadata.get("focus")
    if not span:
        return 1.0
    start, end = int(span[0]), int(span[1])
    probe = unit.text[:60] if unit.kind != "code" else unit.text.split("\n", 2)[1][:60]
    return 1.0 if probe and probe in hit.text[start:end] else 0.0


def _scored_text(unit: Unit) -> str:
    """The text a unit is matched on: a row with its header, code with its lead-in."""
    if unit.kind == "row":
        return f"{' '.join(unit.header)} {unit.text}"
    if unit.code or unit.kind == "item":
        return f"{unit.lead_in} {unit.text}"
    return unit.text


def _embedded_text(unit: Unit) -> str:
    """The text a unit is embedded as: under its section heading, which gives a bare sentence
    ("The default is 7 days.") its topic; code cut to what the model reads first."""
    text = _scored_text(unit)
    return (f"{unit.section}: {text}" if unit.section else text)[:600]


def _sibling_row(unit: Unit, lead: list[_Scored]) -> bool:
    """Whether a row sits in the table of a lead row, beside it: another part of the same long
    row (the same name in its first cell) is the lead's row still."""
    return unit.kind == "row" and any(
        s.unit.kind == "row"
        and s.unit.hit == unit.hit
        and s.unit.header == unit.header
        and s.unit.cells[:1] != unit.cells[:1]
        for s in lead
    )


def _attached(unit: Unit, shown: list[_Scored]) -> bool:
    """Whether the unit is already shown with one of the shown units: as its code, its
    lead-in or a sibling in its list."""
    for s in shown:
        other = s.unit
        if other.hit != unit.hit:
            continue
        if unit.kind == other.kind == "item" and unit.lead_in == other.lead_in != "":
            return True
        if unit.lead_in and unit.lead_in == other.text:
            return True  # its lead-in is shown, and the lead-in brings its code or list
        if other.lead_in and other.lead_in == unit.text:
            return True  # it is the lead-in of shown code or of a shown list item
    return False


def _normal(text: str) -> str:
    return SPACE.sub(" ", text).strip().lower()
