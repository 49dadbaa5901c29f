"""Python source as API-reference entries: one per public symbol, read with `ast`, never run.

The rule (PEP 8's, as Sphinx autodoc applies it to the `automodule :members:` directives
PySpark, MLflow and Delta Lake build their references with; the details are in
`ingest.public_api`):
- public modules have no `_` part and no implementation namespace in their path (store,
  server, backend, providers, protos, utils, cli, worker, connect, classic, ...);
- a public module exposes its `__all__`, else what it defines, plus for a package
  `__init__` what it imports from its own submodules (re-exports);
- every class, function and method so exposed is one entry, titled with the shortest public
  path (`pyspark.sql.DataFrame.repartition`, `mlflow.sklearn.log_model`), and a public
  module's docstring is an entry titled with the module name.

An entry holds the signature (a fenced python block), its version notes ("New in version
3.4.0.", "Changed in version ...", "Deprecated since version ..."), the symbol's other
public names, then the docstring; the package version and the entry's life cycle (the version
it came in, whether it is deprecated and for what: ingest.lifecycle) go with it as metadata.
A module file's document carries the entries defined in it, every block tagged with its
entry's symbol and life cycle (ingest.package_api makes a package's modules into items).
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap

from ingest.docstrings import split_docstring, version_notes
from ingest.fence import fenced
from ingest.lifecycle import UNKNOWN, Lifecycle, decorated, lifecycle
from ingest.public_api import (
    Function,
    ModuleAPI,
    choose_definition,
    is_overload,
    module_name,
    public_api,
    runtime_statements,
)
from rag.errors import SourceError
from rag.models import Block, Document

# Part of every item's fingerprint: a new parser re-reads every module of an existing index.
PARSER_VERSION = "apiref-6 docstring prose without rst roles"
ALSO_NAMES = 3  # other public names listed in an entry, at most
SIGNATURE_CHARS = 100  # a longer `def` line is wrapped, one parameter per line
NOT_DEPRECATED = Lifecycle()  # what a top-level entry inherits


def parse_module(
    source: str, data: bytes, *, version: str | None = None, api: ModuleAPI | None = None
) -> Document:
    """The entries a module file defines (api: its public names; alone, the file's own)."""
    if api is None:
        api = public_api({source: data}).get(source, ModuleAPI())
    if api.error:
        raise SourceError(f"{source}: {api.error}; module skipped")
    try:
        tree = ast.parse(data, filename=source)
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise SourceError(f"{source}: cannot parse ({exc}); module skipped") from None
    blocks = _entry(api.module, [], _docstring(tree)) if api.module else []
    defs: dict[str, list[ast.ClassDef | Function]] = {}
    for node in runtime_statements(tree.body):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            defs.setdefault(node.name, []).append(node)
    for name, nodes in defs.items():
        if name in api.names:
            title = api.names[name]
            blocks += _symbol_blocks(choose_definition(nodes), title, api.also.get(name, ()))
    return Document(
        source=source, title=module_name(source), blocks=blocks, version=version, format="py"
    )


# --- entries ----------------------------------------------------------------------------


def _symbol_blocks(
    node: ast.ClassDef | Function,
    title: str,
    also: tuple[str, ...],
    inherited: Lifecycle = NOT_DEPRECATED,
) -> list[Block]:
    """The entry of a class (then its members' entries) or of a function; `inherited` is the
    deprecation of the class it is a member of."""
    if isinstance(node, ast.ClassDef):
        return _class_blocks(node, title, also, inherited)
    signature = "\n".join([*_decorators(node), _def_line(node)])
    return _entry(title, [signature], _docstring(node), also, node, inherited)


def _class_blocks(
    node: ast.ClassDef, title: str, also: tuple[str, ...], inherited: Lifecycle
) -> list[Block]:
    """The class entry (signature with `__init__`, docstrings), then one entry per member: the
    members of a deprecated class are deprecated with it."""
    inits = [c for c in node.body if isinstance(c, Function) and c.name == "__init__"]
    doc = "\n\n".join(d for d in [_docstring(node), *(_docstring(i) for i in inits)] if d)
    blocks = _entry(title, [_class_signature(node, inits)], doc, also, node, inherited)
    life = lifecycle(node, doc) | inherited
    inherited = Lifecycle(deprecated=life.deprecated, use=life.use)
    members: dict[str, list[ast.ClassDef | Function]] = {}
    aliases: dict[str, list[str]] = {}  # `orderBy = sort` in the class body
    for child in node.body:
        if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if not child.name.startswith("_"):
                members.setdefault(child.name, []).append(child)
        elif (
            isinstance(child, ast.Assign)
            and len(child.targets) == 1
            and isinstance(target := child.targets[0], ast.Name)
            and isinstance(child.value, ast.Name)
            and not target.id.startswith("_")
        ):
            aliases.setdefault(child.value.id, []).append(target.id)
    for name, nodes in members.items():
        also = tuple(f"{title}.{alias}" for alias in aliases.get(name, ()))
        blocks += _symbol_blocks(choose_definition(nodes), f"{title}.{name}", also, inherited)
    return blocks


def _entry(
    symbol: str,
    signatures: list[str],
    doc: str,
    also: tuple[str, ...] = (),
    node: ast.ClassDef | Function | None = None,
    inherited: Lifecycle = NOT_DEPRECATED,
) -> list[Block]:
    """Signature, version notes and other names, then the docstring, all tagged with symbol
    and its life cycle (ingest.lifecycle; a member's gaps filled from its class's deprecation)."""
    life = lifecycle(node, doc) | inherited
    tagged = functools.partial(
        Block,
        symbol=symbol,
        since=life.since,
        deprecated=life.deprecated,
        deprecated_use=life.use,
    )
    notes, rest = version_notes(doc)
    added = _decorator_notes(node) if node else []
    notes = [*added, *(note for note in notes if note not in added)]
    blocks = [tagged(fenced(s, "python"), code=True) for s in signatures]
    if also:
        notes.append(f"Also available as {', '.join(also[:ALSO_NAMES])}.")
    if notes:
        blocks.append(tagged("\n".join(notes)))
    blocks += [tagged(t, code=c) for t, c in split_docstring(rest)]
    return blocks


def _decorator_notes(node: ast.ClassDef | Function) -> list[str]:
    """Version notes that decorators add at run time: `@since("3.4.0")`, `@deprecated(...)`."""
    found = decorated(node)
    notes = [f"New in version {found.since}."] if found.since else []
    if found.deprecated:
        known = found.deprecated != UNKNOWN
        lead = f"Deprecated since version {found.deprecated}" if known else "Deprecated"
        notes.append(f"{lead}: use {found.use} instead." if found.use else f"{lead}.")
    return notes


def _class_signature(node: ast.ClassDef, inits: list[Function]) -> str:
    """`class Name(bases):` with decorators, `__init__` signatures and public annotated fields."""
    bases = [ast.unparse(base) for base in node.bases] + [ast.unparse(kw) for kw in node.keywords]
    lines = [
        *_decorators(node),
        f"class {node.name}({', '.join(bases)}):" if bases else f"class {node.name}:",
    ]
    real = [i for i in inits if not is_overload(i)] or inits
    lines += [textwrap.indent(_def_line(init), "    ") for init in real]
    for child in node.body:
        target = child.target if isinstance(child, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and not target.id.startswith("_"):
            lines.append(f"    {ast.unparse(child)}")
    return "\n".join(lines)


def _def_line(node: Function) -> str:
    """`def name(args) -> ret` (or `async def`), one parameter per line when it is long."""
    keyword = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    line = f"{keyword} {node.name}({ast.unparse(node.args)}){returns}"
    if len(line) <= SIGNATURE_CHARS:
        return line
    # Wrapped, a long signature reads as code does, and a chunk split falls between parameters.
    params = "".join(f"    {param},\n" for param in _parameters(node.args))
    return f"{keyword} {node.name}(\n{params}){returns}"


def _parameters(args: ast.arguments) -> list[str]:
    """Each parameter of a signature as written, with the `/` and `*` markers."""
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    out = []
    for i, (arg, default) in enumerate(zip(positional, [*defaults, *args.defaults], strict=True)):
        out.append(_parameter(arg, default))
        if i == len(args.posonlyargs) - 1:
            out.append("/")
    if args.vararg:
        out.append(f"*{_parameter(args.vararg, None)}")
    elif args.kwonlyargs:
        out.append("*")
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append(_parameter(arg, kw_default))
    if args.kwarg:
        out.append(f"**{_parameter(args.kwarg, None)}")
    return out


def _parameter(arg: ast.arg, default: ast.expr | None) -> str:
    """`name: annotation = default`, as PEP 8 spaces it."""
    text = f"{arg.arg}: {ast.unparse(arg.annotation)}" if arg.annotation else arg.arg
    if default is None:
        return text
    return (
        f"{text} = {ast.unparse(default)}" if arg.annotation else f"{text}={ast.unparse(default)}"
    )


def _decorators(node: ast.ClassDef | Function) -> list[str]:
    """The decorator lines, leaving out private helpers like `@_try_remote`."""
    return [
        f"@{ast.unparse(dec)}" for dec in node.decorator_list if not _root_name(dec).startswith("_")
    ]


def _root_name(expr: ast.expr) -> str:
    """The leftmost name of a decorator expression (`a` for `@a.b(c)`)."""
    while True:
        if isinstance(expr, ast.Call):
            expr = expr.func
        elif isinstance(expr, ast.Attribute):
            expr = expr.value
        else:
            return expr.id if isinstance(expr, ast.Name) else ""


def _docstring(node: ast.Module | ast.ClassDef | Function) -> str:
    """The cleaned docstring of a node, or an empty string."""
    raw = ast.get_docstring(node, clean=False)
    return inspect.cleandoc(raw) if raw else ""
