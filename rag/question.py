"""What a question asks: its parts, the names it quotes, the kind of answer and code it wants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from rag.keywords import STOPWORDS, tokenize

# Code-like names as developers write them in prose: `quoted`, dotted.names, calls(),
# snake_case, CamelCase, UPPER_SNAKE and --flags.
_QUOTED = re.compile(r"`([^`\n]+)`")
_NAME = re.compile(
    r"(?<![\w.-])(?:--[a-z][\w-]*"
    r"|[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+(?:\(\))?"
    r"|[A-Za-z_]\w*\(\)"
    r"|[a-z][a-z0-9]*(?:_[a-z0-9]+)+"
    r"|[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+"
    r"|[a-z]+(?:[A-Z][a-z0-9]*)+"
    r"|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?![\w-])"
)
_CAPITALS = re.compile(r"\b[A-Z]{2,}(?:[ \t]+[A-Z]{2,})+\b")
SPACE = re.compile(r"\s+")
_WH = re.compile(r"^(?:how|what|what's|whats|which|where|when|why|who)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[?.!])\s+(?=\S)")
_ASKING = re.compile(
    r"^(?:how|what|what's|whats|which|where|when|why|who|is|are|can|could|does|do|did|should|"
    r"will|would|was|were|has|have|any|anything)\b",
    re.IGNORECASE,
)
# "In a delta MERGE, ..." or "When searching runs, ...": a clause that sets the scene.
_SCENE = re.compile(
    r"^(?!.*\b(?:do|does|did|is|are|was|were|can|could|should|must|will|would|has|have)\b)"
    r"(?:in|on|at|for|with|using|when|while|if|after|before|once|during)\b",
    re.IGNORECASE,
)
# A piece of a question with none of these words asks nothing: "From PySpark, what's ...?"
_ASKS_WITHIN = re.compile(
    r"\b(?:how|what|what's|whats|which|where|when|why|who|do|does|did|can|could|should|would|"
    r"will)\b",
    re.IGNORECASE,
)
# "What is Z-ordering in Delta Lake?", "What are deletion vectors?": a concept to define (where it
# lives, "in Delta Lake", is no part of it).
_DEFINITION = re.compile(
    r"^what(?:'s|\s+is|\s+are)\s+(?:an?\s+|the\s+)?(?P<term>[^?,;]+?)"
    r"(?:\s+(?:in|for|on|with|within)\s+[^?]*)?\s*\??$",
    re.IGNORECASE,
)
MAX_TERM_WORDS = 4
_WHAT = re.compile(r"^what(?:'s|\s+is|\s+are|\s+does|\s+do)\b", re.IGNORECASE)
_PRODUCT_NAME = r"(?:apache\s+)?(?:spark|pyspark|delta(?:\s+lake)?|mlflow)"
_MARKUP = re.compile(r"[`*_\[\]]")
# "X, and how long ...?": a conjunction that starts a second question.
_SECOND_PART = re.compile(
    r",?\s+(?:and|or|but)\s+(?=(?:how|what|what's|which|where|when|why|is|are|can|could|does|do|"
    r"should|will|would)\b)|,\s*(?=(?:how|what|which|where|when|why)\b)",
    re.IGNORECASE,
)
# "it", "that setting": a part that points back to what an earlier part asked about.
_POINTS_BACK = re.compile(r"\b(?:it|its|that|this|these|those|they|them|their)\b", re.IGNORECASE)
# A part with this many content words or fewer ("what is the default?") says little alone.
FEW_WORDS = 2
_KINDS = {
    "value": re.compile(
        r"\bdefaults?\b|\bhow (?:long|much|many|big|large|often|fast|soon)\b|\bsize\b|\blimits?\b|"
        r"\bthreshold\b|\bmaximum\b|\bminimum\b|\bcutoff\b|\btimeout\b|\binterval\b|\blatency\b|"
        r"\bquorum\b|\bvote\b|\bseconds?\b|\bcredentials?\b",
        re.IGNORECASE,
    ),
    "config": re.compile(
        r"\bconfig\w*|\bsettings?\b|\bpropert(?:y|ies)\b|\boptions?\b|\bparameters?\b|\bflags?\b|"
        r"\benvironment variables?\b|\benv vars?\b|\btable features?\b|\bfeature\b|\bturn (?:on|off)\b|"
        r"\bswitch(?:ed)? (?:on|off)\b|\benabl\w+|\bdisabl\w+",
        re.IGNORECASE,
    ),
    "error": re.compile(r"\bexceptions?\b|\berrors?\b|\braises?\b|\bthrows?\b", re.IGNORECASE),
    "code": re.compile(
        r"\bhow (?:do|can|should|would) (?:i|we|you)\b|\bhow to\b|\bsyntax\b|\bcommands?\b|\bcli\b|"
        r"\bwhat do i run\b|\bfunctions?\b|\bmethods?\b|\bapi\b|\bcode\b|\bexample\b|\bshorthand\b|"
        r"\bclause\b|\bstatement\b|\bquery\b|\bpath\b",
        re.IGNORECASE,
    ),
    "reason": re.compile(r"\bwhy\b|\bwhat happens\b|\bis (?:it|that) (?:safe|a good idea)\b", re.I),
}
_LANGUAGES = {
    "sql": re.compile(r"\bsql\b", re.IGNORECASE),
    "python": re.compile(r"\b(?:python|pyspark|pandas|pip)\b|\bdataframe\b", re.IGNORECASE),
    "scala": re.compile(r"\bscala\b", re.IGNORECASE),
    "java": re.compile(r"\bjava\b", re.IGNORECASE),
    "r": re.compile(r"\b(?:sparkr|sparklyr)\b|\bin r\b", re.IGNORECASE),
}
PRODUCTS = {
    "delta": re.compile(r"\bdelta\b|\bdeltalake\b|\bdelta-spark\b", re.IGNORECASE),
    "mlflow": re.compile(r"\bmlflow\b", re.IGNORECASE),
    "spark": re.compile(r"\b(?:py)?spark\b", re.IGNORECASE),
}
DEFAULT_LANGUAGES = ("python", "sql")
# "... without deleting the checkpoint", "instead of as a native Spark model": what the asker
# wants to avoid. Its words must not draw the passages that do just that.
_CLAUSE_END = (
    r"[^,;.?!]*?(?=[,;.?!]|$|\s+(?:and|or|but)\s+"
    r"(?:how|what|which|where|when|why|is|are|can|could|does|do|should|will|would)\b)"
)
_ALTERNATIVES = r"instead of|rather than|other than"
_AVOIDED = re.compile(rf"\b(?:without|{_ALTERNATIVES})\b{_CLAUSE_END}", re.I)
# "instead of through one connection": the alternative the asker turns from, which the keyword
# search leaves out too. ("without rewriting the files" stays there: the docs name what a way
# avoids in the same words.)
_ALTERNATIVE = re.compile(rf"\b(?:{_ALTERNATIVES})\b{_CLAUSE_END}", re.I)
# "I need ... without ...": a statement of what the asker wants.
_WISH = re.compile(
    r"\b(?:need|needs|want|wants|would like|'d like|looking for|trying to|have to)\b",
    re.IGNORECASE,
)
# Docs say "enable" where people say "turn on".
_PHRASES = (
    (re.compile(r"\b(?:turn|switch)(?:ed|ing|s)? (?:\w+ ){0,2}on\b", re.IGNORECASE), "enable"),
    (re.compile(r"\b(?:turn|switch)(?:ed|ing|s)? (?:\w+ ){0,2}off\b", re.IGNORECASE), "disable"),
)


# How software prints what went wrong, as askers paste it: a raised exception
# ("java.lang.OutOfMemoryError: Java heap space"), a JVM stack frame ("at org.apache...") and a
# Python traceback's frame ('File "/opt/job.py", line 12').
RAISED = r"(?:[\w$]+\.)*[A-Z]\w*(?:Exception|Error):"
JVM_FRAME = r"[ \t]*at [\w$.<>]"
PYTHON_FRAME = r'[ \t]*File "[^"\n]*", line \d+'
# A log line's time: log4j's "24/05/02 03:12:45", ISO's "2024-05-02 03:12:45,123", bracketed.
LOG_TIME = r"[ \t]*\[?(?:\d\d/\d\d/\d\d|\d{4}-\d\d-\d\d)[ T,]+\d\d:\d\d:\d\d(?:[.,]\d+)?"
# ... and its level, which starts the line once the time is cut as noise.
LOG_LEVEL = r"[ \t]*(?:ERROR|WARN|WARNING|INFO|FATAL)[ \t]+[\w.$]+:"
# What an asker pastes from a log: an exception with its message ("Class: message"), the
# frames of a stack trace, a log line, an error class in brackets ([DELTA_...]), Py4J's object
# ids ("calling o45.load"), links and paths (s3a://...). The names in it are the software's or
# the asker's own data (columns, tables, hosts, file ids), not another stack's.
PRINTED = re.compile(
    # an exception's message runs on to a blank line or a line that asks
    rf"{RAISED}[^\n]*(?:\n(?![^\n]*\?[ \t]*$)[^\n]*\S[^\n]*)*"
    rf"|^(?:{JVM_FRAME}|[ \t]*Caused by:[ \t]|{PYTHON_FRAME}|{LOG_TIME}|{LOG_LEVEL})[^\n]*"
    r"|\[[A-Z][A-Z0-9_]*_[A-Z0-9_]+(?:\.[A-Z0-9_]+)*\]"
    r"|\bcalling o\d+\.\w+"
    r"|\b[a-z][a-z0-9+.-]*://\S+",
    re.MULTILINE,
)
CODE_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)


@lru_cache(maxsize=256)
def pasted(text: str, blocks: bool = False) -> tuple[tuple[int, int], ...]:
    """Where the text quotes what the software printed (see PRINTED), and with `blocks` its
    code blocks too (output, or the asker's own code and data). Remembered: one question is
    read for its parts, what it asks, its names and the refusal's words."""
    found = tuple(m.span() for m in PRINTED.finditer(text))
    return found + tuple(m.span() for m in CODE_BLOCK.finditer(text)) if blocks else found


def split_pasted(text: str) -> tuple[list[str], list[str]]:
    """What the asker wrote around the output and code they pasted, and what they pasted."""
    said, quoted, end = [], [], 0
    for a, b in sorted(pasted(text, blocks=True)):
        said.append(text[end:a] if a > end else "")
        quoted.append(text[a:b])
        end = max(end, b)
    said.append(text[end:])
    return said, quoted


# What a pasted log holds that says nothing a search can use: where a stack frame's code is
# ("(Promise.scala:259)"; the classes and methods it names may tell, as BroadcastExchangeExec
# does), the count of frames left out, the traceback's first line, Py4J's object ids ("o45."
# of "calling o45.load"), ids (UUIDs, the ids in Parquet part-file names) and timestamps. (A
# link's words may name the page that answers.)
_NOISE = re.compile(
    r"(?<=[\w$>])\((?:[\w$]+\.(?:scala|java|kt)(?::\d+)?|Native Method|Unknown Source)\)"
    r"|^[ \t]*(?:\.\.\. \d+ more|Traceback \(most recent call last\):)[^\n]*$"
    r"|\bo\d+\.(?=\w)"
    r"|\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b"
    r"|\bpart-\d{5}-[\w.-]+"
    r"|\b(?:\d\d/\d\d/\d\d|\d{4}-\d\d-\d\d)[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?\b",
    re.MULTILINE,
)
_BLANK_LINES = re.compile(r"\n[ \t]*(?=\n)")
# A JVM stack trace names the code that raised first, a Python traceback last: of a run of
# frames this many are kept from that end (a whole trace runs to hundreds of lines).
FRAMES_KEPT = 3
_JVM_FRAME = re.compile(JVM_FRAME)
_PYTHON_FRAME = re.compile(PYTHON_FRAME)
# The frames of a pasted trace: a JVM frame's line, a Python frame's line and its line of code.
FRAMES = re.compile(
    rf"^{JVM_FRAME}[^\n]*|^{PYTHON_FRAME}[^\n]*(?:\n(?!{PYTHON_FRAME})[ \t]+\S[^\n]*)?", re.M
)


def without_noise(text: str) -> str:
    """The text without what a pasted log holds that no search can use (see _NOISE), and with
    only the first frames of a JVM stack trace and the last of a Python traceback."""
    if not re.search(r"\d|\n", text):
        return text
    return _BLANK_LINES.sub("", _NOISE.sub("", _fewer_frames(text))).strip()


def _fewer_frames(text: str) -> str:
    """The text with each run of stack frames cut to FRAMES_KEPT (a Python frame is its "File"
    line and the line of code under it)."""
    lines = text.split("\n")
    out: list[str] = []
    k = 0
    while k < len(lines):
        if _JVM_FRAME.match(lines[k]):
            run = k
            while k < len(lines) and _JVM_FRAME.match(lines[k]):
                k += 1
            out += lines[run : min(k, run + FRAMES_KEPT)]
        elif _PYTHON_FRAME.match(lines[k]):
            frames: list[list[str]] = []
            while k < len(lines) and _PYTHON_FRAME.match(lines[k]):
                frame = [lines[k]]
                k += 1
                if (
                    k < len(lines)
                    and lines[k].startswith((" ", "\t"))
                    and not (_PYTHON_FRAME.match(lines[k]))
                ):
                    frame.append(lines[k])
                    k += 1
                frames.append(frame)
            out += [line for frame in frames[-FRAMES_KEPT:] for line in frame]
        else:
            out.append(lines[k])
            k += 1
    return "\n".join(out)


def _asks(sentence: str) -> bool:
    """Whether a sentence asks (ends in "?" or opens with an asking word) rather than states."""
    return sentence.endswith("?") or bool(_ASKING.match(sentence))


def _sentences(text: str) -> list[tuple[str, bool]]:
    """The sentences of a (stripped) text, each with whether it asks: one that ends in pasted
    output asks only with a wh-word, as the asker does after pasting an error on the same line
    ("... No module named 'src'. Why?"); software asks yes or no ("Are you sure you would like
    to vacuum ...?", "Did you mean ...?")."""
    text = text.strip()
    spans = pasted(text, blocks=True)
    breaks = list(_SENTENCE.finditer(text))
    starts = [0, *(m.end() for m in breaks)]
    ends = [*(m.start() for m in breaks), len(text)]
    return [
        (
            sentence := text[a:b],
            _asks(sentence)
            and (bool(_WH.match(sentence)) or not any(x < b <= y for x, y in spans)),
        )
        for a, b in zip(starts, ends, strict=True)
    ]


def _unpasted(text: str) -> str:
    """What the asker wrote around the output they pasted."""
    return SPACE.sub(" ", " ".join(split_pasted(text)[0])).strip()


def affirmed(text: str, avoided: re.Pattern[str] = _AVOIDED) -> str:
    """The text without the clauses that say what the asker wants to avoid, in its questions and
    the sentences that say what they need (elsewhere "without" says how things are: "I logged a
    model without a signature.")."""
    return " ".join(
        avoided.sub("", s) if _asks(s) or _WISH.search(s) else s
        for s in _SENTENCE.split(text.strip())
    )


def keyword_query(text: str) -> str:
    """The question as the keyword search reads it: without the alternatives it turns from."""
    return affirmed(text, _ALTERNATIVE)


def content_words(text: str) -> frozenset[str]:
    """The content words of question text (stemmed, identifiers whole), with the docs' word for
    phrases like "turn on"."""
    extra = [word for pattern, word in _PHRASES if pattern.search(text)]
    return frozenset(tokenize(" ".join([text, *extra])))


@dataclass(frozen=True)
class Part:
    """One thing a question asks: its text, content words and the kinds of answer it wants."""

    text: str
    kinds: frozenset[str]

    @cached_property
    def words(self) -> frozenset[str]:
        """The part's content words (stemmed, identifiers whole), but for what it avoids."""
        return content_words(affirmed(self.text))


@dataclass(frozen=True)
class Question:
    """A question taken apart for retrieval and answering."""

    text: str
    context: str = ""  # what the conversation asked before, for a follow-up question

    @property
    def full(self) -> str:
        """The question with its context, as retrieval reads it."""
        return f"{self.context} {self.text}".strip()

    @cached_property
    def words(self) -> frozenset[str]:
        """Every content word of the question and its context (stemmed, identifiers whole), but
        for what it avoids."""
        return content_words(affirmed(self.full))

    @cached_property
    def asked(self) -> str:
        """The sentences that ask, without the statements that set the scene ("Our tracking
        server runs on Postgres.")."""
        asking = " ".join(s for s, asks in _sentences(self.text) if asks)
        return asking or _unpasted(self.text) or self.text

    @cached_property
    def asks_what(self) -> bool:
        """Whether the question asks what something is or does ("What does X do?", "What is
        X for?")."""
        return bool(_WHAT.match(self.asked.strip()))

    @cached_property
    def term(self) -> str:
        """What a "What is X?" question asks to have defined ("Z-ordering", "deletion vectors"),
        as written; "" for any other question."""
        match = _DEFINITION.match(self.asked.strip())
        if not match or len(self.parts) > 1:
            return ""
        term = match.group("term").strip(" `")
        return term if 0 < len(term.split()) <= MAX_TERM_WORDS else ""

    @cached_property
    def definition(self) -> re.Pattern[str] | None:
        """What a sentence that defines the term starts with, in lower case and without markup
        (see plain()): "z-ordering is a", "adaptive query execution (aqe) is an", "deletion
        vectors are the"; None for a question that asks no term."""
        if not self.term:
            return None
        *words, last = (re.escape(word) for word in self.term.lower().split())
        name = r"\s+".join([*words, f"{last.removesuffix('s')}(?:e?s)?"])  # either number
        return re.compile(
            rf"(?:(?:an?|the)\s+)?(?:{_PRODUCT_NAME}\s+)?{name}(?:\s+\([^)]*\))?\s+"
            r"(?:(?:is|are)\s+(?:an?|the|one)|refers\s+to|means)\b"
        )

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Code-like names the question quotes, as written (without backticks or `()`)."""
        found: dict[str, None] = {}
        for match in _QUOTED.finditer(self.text):
            name = match.group(1).strip().removesuffix("()")
            if name and len(name) <= 120:
                found.setdefault(name)
        for match in _NAME.finditer(_QUOTED.sub(" ", self.text)):
            name = match.group().removesuffix("()").rstrip(".")
            if name.lower() not in STOPWORDS and not _is_prose_abbreviation(name):
                found.setdefault(name)
        return tuple(found)

    @cached_property
    def code_names(self) -> tuple[str, ...]:
        """The names written as code: quoted, dotted, called() or snake_case; a bare CamelCase
        word (Delta, PySpark) may be prose."""
        quoted = {m.group(1).strip().removesuffix("()") for m in _QUOTED.finditer(self.text)}
        called = {m.group()[:-2] for m in re.finditer(r"\b\w+\(\)", self.text)}
        return tuple(
            name
            for name in self.names
            if name in quoted or name in called or "." in name or "_" in name
        )

    @cached_property
    def phrases(self) -> tuple[str, ...]:
        """Keyword phrases written in capitals, as SQL is (ORDER BY, WHEN NOT MATCHED BY SOURCE)."""
        found = (m.group().removeprefix("SQL").strip() for m in _CAPITALS.finditer(self.text))
        return tuple(dict.fromkeys(p for p in found if " " in p))

    @cached_property
    def parts(self) -> tuple[Part, ...]:
        """The questions asked, in order; context sentences are kept out of them."""
        pieces: list[str] = []
        context = ""
        for sentence, asks in _sentences(self.text):
            if not asks:
                context += f"{sentence} "  # a statement sets the scene for the next question
                continue
            split = _SECOND_PART.split(sentence)
            for k, piece in enumerate(split):
                piece = piece.strip(" ,;")
                if not piece:
                    continue
                if not piece.endswith("?") and (
                    _SCENE.match(piece) or (k < len(split) - 1 and not _asks_within(piece))
                ):
                    # "In a delta MERGE, how do I ...?", "From PySpark, what's the call ...?"
                    context += f"{piece}, "
                elif pieces and not tokenize(piece):
                    pieces[-1] = f"{pieces[-1]} {piece}"  # a bare "or why?" joins the last part
                else:
                    pieces.append(f"{context}{piece}")
                    context = ""
        if not pieces:
            return (Part(self.text.strip(), _kinds(self.text)),)
        if len(pieces) == 1:
            # One question after statements that set the scene: the question is what is asked.
            asked = pieces[0].removeprefix(scene).strip() if (scene := _scene(self.text)) else ""
            return (Part(asked or pieces[0], _kinds(pieces[0])),)
        return tuple(Part(p, _kinds(p)) for p in pieces)

    @cached_property
    def searches(self) -> tuple[str, ...]:
        """Each part of a question with several as a search reads it: a part that points back
        or names little ("..., and which setting controls it?") with the part before it; none
        for a question with one part."""
        if len(self.parts) < 2:
            return ()
        out = [self.parts[0].text]
        for before, part in zip(self.parts, self.parts[1:], strict=False):
            leans = _POINTS_BACK.search(part.text) or len(part.words) <= FEW_WORDS
            out.append(f"{before.text} {part.text}" if leans else part.text)
        return tuple(out)

    @cached_property
    def kinds(self) -> frozenset[str]:
        """Every kind of answer the parts want."""
        return frozenset(kind for part in self.parts for kind in part.kinds)

    @cached_property
    def languages(self) -> tuple[str, ...]:
        """Code languages to quote, preferred first (Python, then SQL, unless asked otherwise)."""
        asked = tuple(lang for lang, pattern in _LANGUAGES.items() if pattern.search(self.text))
        if not asked:
            return DEFAULT_LANGUAGES
        return asked + tuple(lang for lang in DEFAULT_LANGUAGES if lang not in asked)

    @cached_property
    def asked_languages(self) -> frozenset[str]:
        """The languages the question names itself."""
        return frozenset(lang for lang, pattern in _LANGUAGES.items() if pattern.search(self.text))

    @cached_property
    def direction(self) -> str:
        """Which way the data the question asks about flows: "read" (read, load, consume),
        "write" (write, save, produce) or "" (neither, or both); not the way it turns from
        ("instead of writing out the clause")."""
        return one_way(affirmed(self.asked).lower(), DIRECTIONS)

    @cached_property
    def products(self) -> frozenset[str]:
        """The products the question names (spark, delta, mlflow)."""
        return frozenset(name for name, pattern in PRODUCTS.items() if pattern.search(self.text))


# The verbs of a question that reads data, or writes it ("read a Kafka topic as a stream").
DIRECTIONS = {
    "read": re.compile(r"\b(?:read|reads|reading|load|loads|loading|consume|consumes|consuming)\b"),
    "write": re.compile(
        r"\b(?:write|writes|writing|save|saves|saving|produce|produces|producing|publish)\b"
    ),
}


def one_way(text: str, ways: dict[str, re.Pattern[str]]) -> str:
    """The one way whose pattern the text matches ("read", "write"), "" for none or several."""
    found = {way for way, pattern in ways.items() if pattern.search(text)}
    return found.pop() if len(found) == 1 else ""


def plain(text: str) -> str:
    """Text in lower case without Markdown's emphasis, code and link marks, as definitions are
    matched."""
    return _MARKUP.sub("", text).lower()


def is_stack_name(word: str) -> bool:
    """Whether a word names one of the stack's products or languages (PySpark, Delta, SQL)."""
    return any(p.fullmatch(word) for p in (*_LANGUAGES.values(), *PRODUCTS.values()))


def _scene(text: str) -> str:
    """The statements before the first question sentence ("I deleted runs. How do I ...?")."""
    scene = ""
    for sentence, asks in _sentences(text):
        if asks:
            break
        scene += f"{sentence} "
    return scene


def _asks_within(piece: str) -> bool:
    """Whether a piece of a sentence asks anything ("Once row tracking is on" does not)."""
    return _asks(piece) or bool(_ASKS_WITHIN.search(piece))


def _kinds(text: str) -> frozenset[str]:
    """The kinds of answer a question part wants: value, config, error, code, reason."""
    return frozenset(kind for kind, pattern in _KINDS.items() if pattern.search(text))


def _is_prose_abbreviation(name: str) -> bool:
    """'e.g', 'i.e' and version numbers are no names."""
    return bool(re.fullmatch(r"(?:[a-zA-Z]\.)+[a-zA-Z]?|[\d.]+", name))
