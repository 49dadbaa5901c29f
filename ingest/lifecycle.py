"""An API entry's life cycle as its source states it: the version it came in, and whether it is
deprecated (since which version, in favour of what).

Read with `ast`, never run, from three places:
- decorators: `@since("3.4.0")`, `@deprecated(...)` in the forms MLflow (`alternative`,
  `since`, positional or by keyword), PEP 702 (a message) and the `Deprecated` package
  (`version=`, `reason=`) use;
- the docstring: a `.. versionadded::` or `.. deprecated::` directive, or a paragraph opening
  "Deprecated since ...", at the docstring's own level (an indented one belongs to a
  parameter: `.. deprecated::` under `col` deprecates passing a Column, not the function);
- the body: `warnings.warn(..., DeprecationWarning | FutureWarning)` that every call runs (a
  class's in `__init__`); one under an `if` warns about an argument or a value, not the symbol.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ingest.docstrings import reduce_roles
from ingest.public_api import Function, is_overload
from rag.models import DEPRECATED_UNKNOWN as UNKNOWN

WARNINGS = frozenset({"DeprecationWarning", "FutureWarning"})
VERSION = re.compile(r"\d+(?:\.\d+)*")
_DIRECTIVE = re.compile(r"^\.\.\s+(?P<kind>versionadded|deprecated)::(?P<arg>.*)$")
_DEPRECATED_LINE = re.compile(r"^Deprecated(?=\s+(?:since|in|as of)\b|\s*[:.,]|\s*$)")
# A warning deprecates its symbol when it says so and is not about an argument or a behaviour
# ("Argument `na_sentinel` will be removed", "The behavior of Series.argsort ... is deprecated"),
# and a FutureWarning may announce a mere change ("`day` will return int32 index").
_SAYS_DEPRECATED = re.compile(r"deprecat|will be removed|is removed", re.IGNORECASE)
_ABOUT_A_PART = re.compile(
    r"\b(?:argument|parameter|keyword|option|behaviou?r)s?\b|\bpassing\b", re.IGNORECASE
)
_STATED_VERSION = re.compile(
    r"deprecated\s+(?:since|in|as of)\s+(?:version\s+|[A-Z]\w*\s+)?v?(?P<version>\d+(?:\.\d+)*)",
    re.IGNORECASE,
)
_NAME = r"[A-Za-z_]\w*(?:\(\))?(?:\.[A-Za-z_]\w*(?:\(\))?)*"
_ONE = rf"`(?P<q>[^`\n]{{1,80}})`|(?P<bare>{_NAME})"
_USE = re.compile(
    rf"\b(?:use|replaced (?:by|with)|superseded by|in favou?r of)\s+(?:{_ONE})", re.IGNORECASE
)
_OR = re.compile(rf",?\s+or\s+(?:{_ONE})")
_INSTEAD = re.compile(r"\s+instead\b")
_NOT_NAMES = frozenset(
    {"it", "this", "that", "these", "those", "them", "the", "a", "an", "one", "another", "other"}
)


@dataclass(frozen=True)
class Lifecycle:
    """When an entry came in and whether it is deprecated, as far as its source says."""

    since: str | None = None
    deprecated: str | None = None  # the version it is deprecated since, or UNKNOWN
    use: str | None = None  # the replacement the source names

    def __or__(self, other: Lifecycle) -> Lifecycle:
        """This one, its gaps filled from other (a known version beats UNKNOWN)."""
        deprecated = self.deprecated
        if deprecated in (None, UNKNOWN) and other.deprecated:
            deprecated = other.deprecated
        use = (self.use or other.use) if deprecated else None
        return Lifecycle(self.since or other.since, deprecated, use)


def lifecycle(node: ast.ClassDef | Function | None, doc: str) -> Lifecycle:
    """An entry's life cycle from its decorators, its docstring and the warnings it raises."""
    if node is None:
        return documented(doc)
    return decorated(node) | documented(doc) | warned(node)


# --- decorators -------------------------------------------------------------------------


def decorated(node: ast.ClassDef | Function) -> Lifecycle:
    """What `@since(...)` and `@deprecated(...)` decorators say."""
    found = Lifecycle()
    for dec in node.decorator_list:
        call = dec if isinstance(dec, ast.Call) else None
        name = _called_name(call.func if call else dec)
        if name == "since" and call and call.args:
            found |= Lifecycle(since=_text(call.args[0]))
        elif name == "deprecated":
            found |= _deprecated_call(call)
    return found


def _deprecated_call(call: ast.Call | None) -> Lifecycle:
    """`@deprecated`, bare or called: MLflow's (alternative, since), PEP 702's (message)."""
    if call is None:
        return Lifecycle(deprecated=UNKNOWN)
    kw = {k.arg: text for k in call.keywords if k.arg and (text := _text(k.value))}
    args = [_text(a) or "" for a in call.args]
    message = " ".join(v for k, v in kw.items() if k in ("reason", "message", "impact"))
    use = kw.get("alternative") or kw.get("instead")
    version = kw.get("since") or kw.get("version") or kw.get("deprecated_in")
    if args and re.search(r"\s", args[0]):
        message = f"{args[0]} {message}"
    elif args:
        use = use or args[0]
        version = version or (args[1] if len(args) > 1 else None)
    return Lifecycle(deprecated=version or UNKNOWN, use=use or replacement(message))


def _called_name(expr: ast.expr) -> str:
    """The name a decorator is called by: `deprecated` for `@annotations.deprecated(...)`."""
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return expr.id if isinstance(expr, ast.Name) else ""


def _text(expr: ast.expr) -> str | None:
    """A decorator argument's text when it is a string or number literal (a name or a call
    says nothing without running the code)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str | int | float):
        return str(expr.value).strip() or None
    return None


# --- the docstring ----------------------------------------------------------------------


def documented(doc: str) -> Lifecycle:
    """What the docstring's own `versionadded`/`deprecated` directives and "Deprecated since"
    paragraphs say (a cleaned docstring: its own level is column 0)."""
    found = Lifecycle()
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if match := _DIRECTIVE.match(line):
            version = VERSION.search(match["arg"])
            if match["kind"] == "versionadded":
                found |= Lifecycle(since=version.group() if version else None)
            else:
                text = _held(match["arg"], lines[i + 1 :], directive=True)
                stated = version.group() if version else UNKNOWN
                found |= Lifecycle(deprecated=stated, use=replacement(text))
        elif _DEPRECATED_LINE.match(line):
            text = _held(line, lines[i + 1 :], directive=False)
            found |= Lifecycle(deprecated=stated_version(text), use=replacement(text))
    return found


def _held(first: str, following: list[str], *, directive: bool) -> str:
    """The text a directive holds (indented under it) or a paragraph (up to a blank line)."""
    body = [first]
    for line in following:
        if not line.strip():
            if directive:
                continue
            break
        if directive and not line[0].isspace():
            break
        body.append(line.strip())
    return reduce_roles(" ".join(part.strip() for part in body if part.strip()))


# --- the body -----------------------------------------------------------------------------


def warned(node: ast.ClassDef | Function) -> Lifecycle:
    """What a `warnings.warn(..., DeprecationWarning|FutureWarning)` every call runs says: in
    the function's body, or a class's `__init__`."""
    if isinstance(node, ast.ClassDef):
        inits = [
            c
            for c in node.body
            if isinstance(c, ast.FunctionDef | ast.AsyncFunctionDef)
            and c.name == "__init__"
            and not is_overload(c)
        ]
        return warned(inits[-1]) if inits else Lifecycle()
    for statement in _always_run(node.body):
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not isinstance(call, ast.Call) or not _is_deprecation_warning(call):
            continue
        message = _message(call.args[0]) if call.args else None
        if message is None:  # a message built at run time: the category is all there is
            return Lifecycle(deprecated=UNKNOWN)
        if _SAYS_DEPRECATED.search(message) and not _ABOUT_A_PART.search(message):
            return Lifecycle(deprecated=stated_version(message), use=replacement(message))
    return Lifecycle()


def _always_run(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of a body that run on every call: not under an `if`, a loop or an
    `except`, and not in a nested definition."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.With | ast.AsyncWith):
            yield from _always_run(statement.body)
        elif isinstance(statement, ast.Try):
            yield from _always_run(statement.body + statement.finalbody)


def _is_deprecation_warning(call: ast.Call) -> bool:
    """Whether a call is `warnings.warn` (or a bare `warn`) with a deprecation category."""
    if _called_name(call.func) != "warn":
        return False
    if isinstance(call.func, ast.Attribute) and _called_name(call.func.value) != "warnings":
        return False
    category = next((k.value for k in call.keywords if k.arg == "category"), None)
    if category is None and len(call.args) > 1:
        category = call.args[1]
    return category is not None and _called_name(category) in WARNINGS


def _message(expr: ast.expr) -> str | None:
    """A warning's message as far as the source spells it out (literals joined with `+`; an
    f-string's or a `.format` template's fixed text), else None."""
    parts = []
    # Walked, not recursed: `"a" + "b" + ...` nests to the left as deep as it is long.
    while isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        parts.append(expr.right)
        expr = expr.left
    texts = [_literal_text(part) for part in [expr, *reversed(parts)]]
    return None if None in texts else "".join(t or "" for t in texts)


def _literal_text(expr: ast.expr) -> str | None:
    """The fixed text of a string literal, an f-string or a `"...".format(...)` call."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        expr = expr.func.value if expr.func.attr == "format" else expr
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "…" for v in expr.values)
    return None


# --- text ---------------------------------------------------------------------------------


def stated_version(text: str) -> str:
    """The version a deprecation message names ("Deprecated in 3.2", "deprecated since Spark
    4.0", "deprecated as of version 1.1"), else UNKNOWN."""
    match = _STATED_VERSION.search(text)
    return match["version"] if match else UNKNOWN


def replacement(text: str) -> str | None:
    """The replacement a deprecation message names: "Use X instead", "use `X`", "replaced by
    X", "in favor of X", "use X or Y"; a bare word counts only when it reads as code
    (dotted, snake_case, camelCase, called) or is followed by "instead"."""
    text = reduce_roles(text.replace("``", "`"))
    for match in _USE.finditer(text):
        if not _quoted_or_code(match, text):
            continue
        names = [match["q"] or match["bare"]]
        while (more := _OR.match(text, match.end())) and _quoted_or_code(more, text):
            names.append(more["q"] or more["bare"])
            match = more
        return " or ".join(name.strip() for name in names)
    return None


def _quoted_or_code(match: re.Match[str], text: str) -> bool:
    """Whether a matched name is quoted, or a bare word that reads as a code name."""
    return bool(match["q"]) or _reads_as_name(match["bare"], text[match.end() :])


def _reads_as_name(word: str, after: str) -> bool:
    """Whether a bare word after "use" is a code name rather than English."""
    if word.lower() in _NOT_NAMES:
        return False
    if _INSTEAD.match(after):
        return True
    code = "." in word or "_" in word or word.endswith("()")
    return code or bool(re.search(r"[a-z][A-Z]|^[A-Z]\w*[A-Z]", word))
