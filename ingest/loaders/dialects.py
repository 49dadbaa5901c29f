"""What Jekyll and MDX add to Markdown, taken out so that markdown-it reads plain CommonMark.

Spark's docs are Jekyll pages: Liquid `{% highlight %}` blocks are code, `{% include %}` lines
and kramdown's table-of-contents marker go, and the content of an element marked
`markdown="1"` is Markdown; the Liquid tags and `{{ site.* }}` variables left in prose, and
kramdown's `{: attribute lists}`, go once markdown-it has told prose from code (liquid_text).
MDX pages (Delta Lake, MLflow) open with import/export statements, and hold `{/* comments */}`
and JSX tags, whose text props (titles, descriptions, alt text) stay as text; JSX goes before
markdown-it reads the page, since a component on lines of its own shapes the blocks around it.
HTML comments go in every dialect. Code (fences, highlight blocks) and HTML tables are left as
they are: markdown-it reads the one, the HTML reader the other.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ingest.fence import Opening, closes, fenced, opening
from ingest.loaders.outline import collapse_blank_lines, dedent
from ingest.loaders.tags import strip_tags


@dataclass(frozen=True)
class Dialect:
    """Which extras a Markdown file may hold."""

    front_matter: bool = False  # a leading YAML block between --- lines
    liquid: bool = False  # Jekyll's Liquid tags and kramdown's marks
    mdx: bool = False  # MDX's import/export statements, JSX comments and tags


JEKYLL = Dialect(front_matter=True, liquid=True)
MDX = Dialect(front_matter=True, mdx=True)
COMMONMARK = Dialect()

_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
_ESM_START = re.compile(
    r"(?:import\s+[\w{*\"']|export\s+(?:const|let|var|default|function|class|async|\{|\*))"
)
# Jekyll renders Liquid before Markdown: a variable in a link target, as in
# ![x]({{ rel_path_to_root }}img/x.png), is gone by then; left in, its spaces make no link.
_LINK_TARGET = re.compile(r"\]\((?:[^()\s{]|\{\{[^{}\n]*\}\}|\{)*+")
_LIQUID_OUTPUT = re.compile(r"\{\{[^{}\n]*\}\}")
# "```sql ALTER TABLE t CLUSTER BY (a, b); ```" alone on its line: an upstream typo for a code
# block, which CommonMark reads as inline code.
_ONE_LINE_FENCE = re.compile(
    r"^([ \t]*)(`{3,})([A-Za-z][\w+-]*) +([^`\n]*?\S[ \t]+\S[^`\n]*?) *\2[ \t]*$"
)
# kramdown reads the content of an element marked markdown="1" as Markdown; CommonMark only
# after a blank line.
_MARKDOWN_ELEMENT = re.compile(r"^([ \t]*<[A-Za-z][^<>\n]*\bmarkdown=[\"']1[\"'][^<>\n]*>)$", re.M)


def plain_markdown(text: str, dialect: Dialect) -> str:
    """Normalised Markdown text without the dialect's extras, its code and tables untouched."""
    out: list[str] = []
    prose: list[str] = []
    for kind, lines in _regions(text.split("\n"), dialect):
        if kind == "prose":
            prose += lines
            continue
        if prose:
            out.append(_clean("\n".join(prose), dialect))
            prose = []
        out += lines
    if prose:
        out.append(_clean("\n".join(prose), dialect))
    return "\n".join(out)


def _regions(lines: list[str], dialect: Dialect) -> Iterator[tuple[str, list[str]]]:
    """The lines as ("prose", lines) to clean and ("kept", lines) to leave as they are, without
    HTML comments, Liquid includes and MDX import/export statements."""
    i = _front_matter_end(lines) if dialect.front_matter else 0
    if i:
        yield "kept", lines[:i]
    in_comment = False
    while i < len(lines):
        was_in_comment = in_comment
        line, in_comment = _strip_html_comments(lines[i], in_comment)
        stripped = line.strip()
        fence = opening(line)
        one_line = _ONE_LINE_FENCE.match(line)
        if was_in_comment and not stripped:
            i += 1
        elif one_line:
            pad, ticks, lang, code = one_line.groups()
            yield "kept", ["", f"{pad}{ticks}{lang}", f"{pad}{code}", f"{pad}{ticks}", ""]
            i += 1
        elif fence is not None:
            code, i = _read_fence(lines, i, fence)
            yield "kept", code
        elif dialect.liquid and _liquid_tag(stripped, "highlight"):
            code, i = _read_highlight(lines, i)
            # Blank lines around: in CommonMark an HTML block before it runs to a blank line.
            yield "kept", ["", *code, ""] if code else []
        elif dialect.liquid and _liquid_tag(stripped, "include"):
            i += 1  # include_example and friends reference files outside the page
        elif stripped.lower().startswith("<table"):
            table, i = _read_html_table(lines, i, liquid=dialect.liquid)
            yield "kept", table
        elif dialect.mdx and _ESM_START.match(line):
            i = _skip_esm(lines, i)
        else:
            yield "prose", [line]
            i += 1


def liquid_text(text: str) -> str:
    """Prose text without Liquid tags, Jekyll's site and page variables and kramdown's
    attribute lists ({{ APP_ID }}, a placeholder of the text, stays)."""
    text = _remove_between(text, "{%", "%}", same_line=True)
    text = _remove_between(text, "{{", "}}", same_line=True, keep=_keep_liquid_output)
    return _remove_between(text, "{:", "}", same_line=True)


def _clean(text: str, dialect: Dialect) -> str:
    """Jekyll prose without kramdown's table-of-contents marker and Liquid in link targets, a
    blank line after a markdown="1" tag; MDX prose without JSX (its inline code kept)."""
    if dialect.liquid:
        lines = text.split("\n")
        text = "\n".join(line for k, line in enumerate(lines) if not _is_toc_line(lines, k))
        text = _MARKDOWN_ELEMENT.sub("\\1\n", text)
        text = _LINK_TARGET.sub(lambda m: _LIQUID_OUTPUT.sub("", m.group()), text)
    if dialect.mdx:
        text, spans = _protect_code_spans(text)
        text = _remove_between(text, "{/*", "*/}", same_line=False)
        text = text.replace('{" "}', " ").replace("{' '}", " ")
        text = strip_tags(text, jsx=True)
        text = _PLACEHOLDER.sub(lambda m: spans[int(m.group(1))], text)
    return text


def _front_matter_end(lines: list[str]) -> int:
    """The index after a leading YAML front matter block, or 0 when there is none."""
    if not lines or lines[0].strip() != "---":
        return 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), 0)
    return end + 1 if end else 0


def _liquid_tag(stripped: str, name: str) -> bool:
    """Whether a stripped line opens with the Liquid tag name ({% name ...%} or {%- name ...%})."""
    return stripped.startswith((f"{{% {name}", f"{{%- {name}"))


def _is_toc_line(lines: list[str], k: int) -> bool:
    """Whether line k is kramdown's table-of-contents placeholder: a list item that `{:toc}`
    follows ("* Table of contents"), or its usual text."""
    line = lines[k].strip()
    follows = k + 1 < len(lines) and lines[k + 1].strip() == "{:toc}"
    return line.lstrip("*- ").startswith("This will become a table of contents") or (
        follows and line[:1] in ("*", "-", "+")
    )


def _read_fence(lines: list[str], start: int, fence: Opening) -> tuple[list[str], int]:
    """The lines of the fenced code block opened at start, and the index after it.

    Code written on the fence line and closed at the end of a later line is an upstream typo
    (```sql CREATE ... AUTO_REFRESH = true; ```): CommonMark would run that block on through
    the next fences, turning prose into code and code into prose; it ends where it was meant to.
    """
    marker = fence.char * fence.length
    end = next((i for i in range(start + 1, len(lines)) if closes(lines[i], fence)), 0)
    code_in_info = len(fence.info.split()) >= 3 and not re.search(r"\w=[\"'{]", fence.info)
    if code_in_info or not end:
        stop = end or len(lines)
        typo = next((i for i in range(start + 1, stop) if lines[i].rstrip().endswith(marker)), 0)
        if typo:
            pad = " " * fence.indent
            lang, _, first = fence.info.partition(" ")
            body = [f"{pad}{first.strip()}"] if first.strip() else []
            body += [*lines[start + 1 : typo], lines[typo].rstrip()[: -len(marker)].rstrip()]
            return [f"{pad}{marker}{lang}", *body, f"{pad}{marker}"], typo + 1
    end = end + 1 if end else len(lines)
    return lines[start:end], end


def _read_highlight(lines: list[str], start: int) -> tuple[list[str], int]:
    """A Liquid {% highlight lang %} block as the lines of a fenced code block, and the next index."""
    words = lines[start].strip().strip("{}%- ").split()
    lang = words[1] if len(words) > 1 else ""
    body: list[str] = []
    i = start + 1
    while i < len(lines) and "endhighlight" not in lines[i]:
        body.append(lines[i])
        i += 1
    code = "\n".join(dedent(body)).strip("\n")
    if not code.strip():
        return [], i + 1
    return collapse_blank_lines(fenced(code, lang)).split("\n"), i + 1


def _read_html_table(lines: list[str], start: int, *, liquid: bool) -> tuple[list[str], int]:
    """The lines of an HTML table (nested tables included), and the next index."""
    depth = 0
    i = start
    while i < len(lines):
        lower = lines[i].lower()
        depth += lower.count("<table") - lower.count("</table")
        i += 1
        if depth <= 0:
            break
    table = lines[start:i]
    return (_liquid_to_html(table) if liquid else table), i


def _liquid_to_html(lines: list[str]) -> list[str]:
    """Turn Liquid highlight blocks inside raw HTML into <pre> and drop other Liquid tags."""
    out: list[str] = []
    in_code = False
    for line in lines:
        stripped = line.strip()
        if _liquid_tag(stripped, "highlight"):
            words = stripped.strip("{}%- ").split()
            lang = html.escape(words[1]) if len(words) > 1 else ""
            out.append(f'<pre class="language-{lang}">' if lang else "<pre>")
            in_code = True
        elif in_code and "endhighlight" in stripped:
            out.append("</pre>")
            in_code = False
        elif in_code:
            out.append(html.escape(line, quote=False))
        else:
            out.append(_remove_between(line, "{%", "%}", same_line=True))
    return out


def _skip_esm(lines: list[str], start: int) -> int:
    """The index after an MDX import/export statement starting at start."""
    line = lines[start]
    if line.startswith("import"):
        i = start
        while i < len(lines) and lines[i].strip():  # multi-line imports have no blank lines
            if re.search(r"""\bfrom\s*["']|^import\s*["']""", lines[i]):
                return i + 1
            i += 1
        return i
    balance = 0
    i = start
    while i < len(lines):
        text = lines[i]
        balance += sum(text.count(c) for c in "{[(") - sum(text.count(c) for c in "}])")
        i += 1
        if balance <= 0:
            break
    return i


def _strip_html_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """Remove HTML comments from a line; returns the rest and whether a comment stays open."""
    out: list[str] = []
    pos = 0
    while True:
        if in_comment:
            end = line.find("-->", pos)
            if end < 0:
                return "".join(out), True
            pos = end + 3
            in_comment = False
        start = line.find("<!--", pos)
        if start < 0:
            out.append(line[pos:])
            return "".join(out), False
        out.append(line[pos:start])
        pos = start + 4
        in_comment = True


def _protect_code_spans(text: str) -> tuple[str, list[str]]:
    """Replace inline code spans with placeholders so later clean-up leaves them alone."""
    spans: list[str] = []
    out: list[str] = []
    pos = 0
    para_end = -1
    i = text.find("`")
    while i >= 0:
        j = i
        while j < len(text) and text[j] == "`":
            j += 1
        if para_end < j:
            para_end = text.find("\n\n", j)
            para_end = len(text) if para_end < 0 else para_end
        close = _find_tick_run(text, j - i, j, para_end)
        if close < 0:
            i = text.find("`", j)
            continue
        out.append(text[pos:i])
        out.append(f"\ue000{len(spans)}\ue001")
        spans.append(text[i : close + j - i])
        pos = close + j - i
        i = text.find("`", pos)
    out.append(text[pos:])
    return "".join(out), spans


def _find_tick_run(text: str, length: int, start: int, end: int) -> int:
    """The start of the next run of exactly length backticks in text[start:end], or -1."""
    ticks = "`" * length
    k = text.find(ticks, start, end)
    while k >= 0:
        stop = k
        while stop < end and text[stop] == "`":
            stop += 1
        if stop - k == length:
            return k
        k = text.find(ticks, stop, end)
    return -1


def _remove_between(
    text: str,
    opener: str,
    closer: str,
    *,
    same_line: bool,
    keep: Callable[[str], bool] | None = None,
) -> str:
    """Remove opener...closer spans (optionally only within a line, or unless keep(inner))."""
    out: list[str] = []
    pos = 0
    while True:
        start = text.find(opener, pos)
        if start < 0:
            break
        limit = text.find("\n", start) if same_line else -1
        limit = len(text) if limit < 0 else limit
        end = text.find(closer, start + len(opener), limit)
        if end < 0:
            # No closer up to limit, so none for any later opener before it either.
            if limit == len(text):
                break
            out.append(text[pos:limit])
            pos = limit
            continue
        inner = text[start + len(opener) : end]
        out.append(text[pos:start])
        if keep is not None and keep(inner):
            out.append(text[start : end + len(closer)])
        pos = end + len(closer)
    out.append(text[pos:])
    return "".join(out)


def _keep_liquid_output(inner: str) -> bool:
    """Keep {{ ... }} unless it is a Jekyll site/page variable (those render to nothing useful)."""
    name = inner.strip()
    return not (
        name.startswith(("site.", "page.", "layout.", "include.", "jekyll."))
        or name == "rel_path_to_root"
    )
