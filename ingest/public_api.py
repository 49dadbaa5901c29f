"""Which definitions of a package are its public API, and the dotted name a user writes for each.

The rule follows PEP 8 ("Public and internal interfaces") and what Sphinx autodoc shows for
`automodule :members:`, the directive PySpark, MLflow and Delta Lake build their references
with:

- A module is public when no part of its dotted path starts with `_` (an interface is internal
  when any containing namespace is) and no part is an implementation namespace
  (IMPLEMENTATION_NAMESPACES: stores, servers, backends, protocol/generated code, internal
  utilities, the Spark Connect and classic implementations of an API documented once).
- A public module's public names are its `__all__` when it declares one; otherwise the
  classes and functions it defines (imported names are not its API), plus, for a package
  `__init__`, the names it imports from its own submodules (re-exports, as `mlflow.pyfunc`
  does with `PythonModel` from `mlflow.pyfunc.model`).
- A definition is public when some public module exposes it, wherever it is defined (a
  private `_impl.py` re-exported by its package included). Its name is the shortest of those
  paths (the one nearest to its definition among equals): `pyspark.sql.DataFrame` for the
  class defined in pyspark/sql/dataframe.py, `mlflow.log_param` for mlflow/tracking/fluent.py's.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Parts of a module path that mark implementation, not API (also as a suffix: file_store,
# scoring_server, variant_utils). The references these packages publish document none of
# them: MLflow's covers no store, server, gateway provider, protos, CLI or utils module (bar
# three helpers of mlflow.utils), PySpark documents the Spark Connect API under pyspark.sql
# rather than pyspark.sql.connect and no worker module, and Delta Lake documents
# delta.tables, not delta.connect.
IMPLEMENTATION_NAMESPACES = frozenset(
    {
        "store",
        "stores",
        "server",
        "servers",
        "backend",
        "backends",
        "providers",
        "proto",
        "protos",
        "protocol",
        "generated",
        "internal",
        "utils",
        "cli",
        "worker",
        "connect",
        "classic",
    }
)
MAX_DEPTH = 40  # re-export chains longer than this are treated as unresolvable

Function = ast.FunctionDef | ast.AsyncFunctionDef
Definition = ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Symbol:
    """A top-level definition: the file it is in and its name there."""

    path: str
    name: str


@dataclass
class ModuleAPI:
    """What one file contributes: its public definitions' names, and its own entry's name."""

    names: dict[str, str] = field(default_factory=dict)  # definition name -> public name
    also: dict[str, tuple[str, ...]] = field(default_factory=dict)  # -> other public names
    module: str | None = None  # the module's public name when its docstring is an entry
    error: str | None = None  # why a public module could not be read

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModuleAPI:
        """A ModuleAPI back from its `dataclasses.asdict` form (read from JSON)."""
        also = {name: tuple(names) for name, names in data["also"].items()}
        return cls(dict(data["names"]), also, data["module"], data["error"])


@dataclass
class _Module:
    """One parsed module: its definitions, imports and declared exports."""

    name: str
    path: str
    tree: ast.Module
    defs: dict[str, Definition]
    bindings: dict[str, tuple[str, str | None]]  # local name -> (module, attribute or None)
    aliases: dict[str, str]  # local name -> the local name it was assigned from
    stars: list[str]  # modules imported with `*`
    exports: list[ast.expr] | None  # the expressions assigned to or added to __all__


def rule_key() -> str:
    """What the rule's outcome depends on besides the files (for caching it)."""
    return " ".join(sorted(IMPLEMENTATION_NAMESPACES))


def is_public_module(name: str) -> bool:
    """Whether a dotted module name is public: no `_` part, no implementation namespace."""
    return not any(p.startswith("_") or is_implementation(p) for p in name.split("."))


def is_implementation(part: str) -> bool:
    """Whether one part of a module path names an implementation namespace."""
    return part in IMPLEMENTATION_NAMESPACES or part.rpartition("_")[2] in IMPLEMENTATION_NAMESPACES


def module_name(path: str) -> str:
    """The dotted module name of a module path (`a/b/__init__.py` -> `a.b`)."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def public_api(files: dict[str, bytes]) -> dict[str, ModuleAPI]:
    """The public API of a package's module files, by file (files with none are left out)."""
    return _Package(files).api()


class _Package:
    """A package's modules, parsed once, with the resolution of names across them."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.modules: dict[str, _Module] = {}
        self.errors: dict[str, str] = {}
        for path in sorted(files):
            name = module_name(path)
            try:
                tree = ast.parse(files[path], filename=path)
            except SyntaxError as exc:
                self.errors[path] = f"syntax error at line {exc.lineno}: {exc.msg}"
                continue
            except (ValueError, RecursionError) as exc:
                self.errors[path] = f"cannot parse ({exc})"
                continue
            self.modules[name] = _read_module(name, path, tree)
        self._stars: dict[str, frozenset[str]] = {}
        self._exported: dict[str, list[str]] = {}

    def api(self) -> dict[str, ModuleAPI]:
        """Every file's public names and module entry."""
        paths: dict[Symbol, set[str]] = {}
        for module in self.modules.values():
            if not is_public_module(module.name):
                continue
            for name in self.exported(module.name):
                target = self.resolve(module.name, name)
                if target is not None:
                    paths.setdefault(target, set()).add(f"{module.name}.{name}")
        out: dict[str, ModuleAPI] = {}
        for symbol, names in paths.items():
            defining = module_name(symbol.path)
            ranked = sorted(names, key=lambda n: _rank(n, defining))
            entry = out.setdefault(symbol.path, ModuleAPI())
            entry.names[symbol.name] = ranked[0]
            entry.also[symbol.name] = tuple(ranked[1:])
        for module in self.modules.values():
            if is_public_module(module.name) and ast.get_docstring(module.tree):
                out.setdefault(module.path, ModuleAPI()).module = module.name
        for path, error in self.errors.items():
            if is_public_module(module_name(path)):
                out[path] = ModuleAPI(error=error)
        return out

    def exported(self, name: str) -> list[str]:
        """A module's public names: `__all__`, else its definitions (and a package's re-exports)."""
        if name in self._exported:
            return self._exported[name]
        self._exported[name] = []  # a cycle through __all__ references ends here
        module = self.modules[name]
        found = [n for expr in module.exports or [] for n in self._names_in(name, expr)]
        if not found:  # no `__all__`, or one built at run time
            found = [n for n in module.defs if not n.startswith("_")]
            found += [
                n
                for n in module.aliases
                if not n.startswith("_") and self._defined_in(self.resolve(name, n), name)
            ]
            if module.path.endswith("__init__.py"):
                imported = [*module.bindings, *(n for s in module.stars for n in self.star(s))]
                found += [
                    n
                    for n in imported
                    if not n.startswith("_") and self._reexport(self.resolve(name, n), name)
                ]
        result = list(dict.fromkeys(n for n in found if not n.startswith("_")))
        self._exported[name] = result
        return result

    def resolve(self, module: str, name: str, depth: int = 0) -> Symbol | None:
        """The definition a name of a module refers to, following imports and assignments."""
        found = self.modules.get(module)
        if found is None or depth > MAX_DEPTH:
            return None
        if name in found.defs:
            return Symbol(found.path, name)
        if name in found.aliases and found.aliases[name] != name:
            return self.resolve(module, found.aliases[name], depth + 1)
        if name in found.bindings:
            target, attribute = found.bindings[name]
            if attribute is None or (target, attribute) == (module, name):
                return None  # a module, or `from . import x` naming a submodule
            return self.resolve(target, attribute, depth + 1)
        for star in found.stars:
            if name in self.star(star):
                return self.resolve(star, name, depth + 1)
        return None

    def star(self, module: str) -> frozenset[str]:
        """The names `from module import *` binds."""
        if module in self._stars:
            return self._stars[module]
        self._stars[module] = frozenset()  # cycles of star imports end here
        found = self.modules.get(module)
        names: frozenset[str] = frozenset()
        if found is not None and found.exports is not None:
            names = frozenset(self.exported(module))
        elif found is not None:
            local = [*found.defs, *found.bindings, *found.aliases]
            local += [n for s in found.stars for n in self.star(s)]
            names = frozenset(n for n in local if not n.startswith("_"))
        self._stars[module] = names
        return names

    def _names_in(self, module: str, expr: ast.expr) -> list[str]:
        """The names an `__all__` expression lists: literals, `+` and `other.__all__`."""
        if isinstance(expr, ast.List | ast.Tuple | ast.Set):
            return [n for item in expr.elts for n in self._names_in(module, item)]
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [expr.value]
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return self._names_in(module, expr.left) + self._names_in(module, expr.right)
        if (
            isinstance(expr, ast.Attribute)
            and expr.attr == "__all__"
            and isinstance(expr.value, ast.Name)
        ):
            binding = self.modules[module].bindings.get(expr.value.id)
            if binding is not None:
                target = binding[0] if binding[1] is None else f"{binding[0]}.{binding[1]}"
                if target in self.modules:
                    return self.exported(target)
        return []

    def _defined_in(self, symbol: Symbol | None, module: str) -> bool:
        """Whether a resolved name is a definition of that very module."""
        return symbol is not None and module_name(symbol.path) == module

    def _reexport(self, symbol: Symbol | None, package: str) -> bool:
        """Whether a package `__init__` imports a definition from its own submodules (a
        re-export), rather than using something from elsewhere, or implementation."""
        if symbol is None:
            return False
        defining = module_name(symbol.path)
        below = defining.removeprefix(package + ".").split(".")
        return defining.startswith(package + ".") and not any(map(is_implementation, below))


def _rank(name: str, defining: str) -> tuple[int, int, str]:
    """Order of preference among a definition's public names: shortest, then nearest to it."""
    module = name.rsplit(".", 1)[0].split(".")
    shared = 0
    for a, b in zip(module, defining.split("."), strict=False):
        if a != b:
            break
        shared += 1
    return (name.count("."), -shared, name)


def _read_module(name: str, path: str, tree: ast.Module) -> _Module:
    """The definitions, imports, aliases and `__all__` of one module."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    defs: dict[str, list[Definition]] = {}
    bindings: dict[str, tuple[str, str | None]] = {}
    aliases: dict[str, str] = {}
    stars: list[str] = []
    exports: list[ast.expr] | None = None
    for node in runtime_statements(tree.body):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            defs.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ImportFrom):
            base = _import_base(package, node)
            for alias in node.names if base is not None else []:
                if alias.name == "*":
                    stars.append(base or "")
                else:
                    bindings[alias.asname or alias.name] = (base or "", alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bindings[alias.asname] = (alias.name, None)
        elif (found := _all_expression(node)) is not None:
            exports = (exports or []) + [found]
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Name)
        ):
            aliases[node.targets[0].id] = node.value.id
    chosen = {key: choose_definition(nodes) for key, nodes in defs.items()}
    return _Module(name, path, tree, chosen, bindings, aliases, stars, exports)


def choose_definition(nodes: list[Definition]) -> Definition:
    """Of several definitions of one name: the first real one with a docstring, else the first."""
    real = [n for n in nodes if not (isinstance(n, Function) and is_overload(n))] or nodes
    return next((n for n in real if ast.get_docstring(n)), real[0])


def is_overload(node: Function) -> bool:
    """Whether a function is a `typing.overload` stub."""
    return any(
        (isinstance(dec, ast.Name) and dec.id == "overload")
        or (isinstance(dec, ast.Attribute) and dec.attr == "overload")
        for dec in node.decorator_list
    )


def runtime_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, inside `if` and `try` blocks too, but not `if TYPE_CHECKING:`."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from runtime_statements(node.body)
            yield from runtime_statements(node.orelse)
        elif isinstance(node, ast.Try):
            handlers = [stmt for handler in node.handlers for stmt in handler.body]
            yield from runtime_statements(node.body + handlers + node.orelse + node.finalbody)


def _is_type_checking(test: ast.expr) -> bool:
    """Whether an `if` test is `TYPE_CHECKING` (or `typing.TYPE_CHECKING`)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _all_expression(node: ast.stmt) -> ast.expr | None:
    """What a statement puts into `__all__` (`=`, `+=`, `.extend(...)`, `.append(...)`)."""
    if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
    ):
        return node.value
    if isinstance(node, ast.AugAssign | ast.AnnAssign):
        target = node.target
        if isinstance(target, ast.Name) and target.id == "__all__" and node.value is not None:
            return node.value
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "__all__"
            and func.attr in ("extend", "append")
            and len(node.value.args) == 1
        ):
            arg = node.value.args[0]
            return ast.List(elts=[arg], ctx=ast.Load()) if func.attr == "append" else arg
    return None


def _import_base(package: str, node: ast.ImportFrom) -> str | None:
    """The dotted module a `from X import ...` refers to, or None when it climbs out."""
    if node.level == 0:
        return node.module or ""
    parts = package.split(".") if package else []
    if node.level - 1 > len(parts):
        return None
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))
