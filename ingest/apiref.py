"""API reference of a Python package, read with `ast` from an install or a PyPI archive."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import inspect
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ingest.items import Item, fingerprint
from rag.errors import SourceError
from rag.models import Block, Document

MAX_MODULE_BYTES = 5_000_000
PARAGRAPH_CHARS = 1000
SKIP_DIRS = frozenset({"tests", "test", "_vendor", "__pycache__"})
SKIP_FILES = frozenset({"conftest.py"})
GENERATED_SUFFIXES = ("_pb2.py", "_pb2_grpc.py")  # protobuf output: descriptors, no docs
SKIP_DIR_SUFFIXES = (".dist-info", ".egg-info", ".data")
SDIST_SCRIPTS = frozenset(
    {"setup.py", "conftest.py", "noxfile.py", "fabfile.py", "tasks.py", "versioneer.py"}
)
WHEEL_SUFFIXES = (".whl",)
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")

Names = frozenset[str] | None  # the names a module is documented for; None means every public one
Function = ast.FunctionDef | ast.AsyncFunctionDef

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_SPEC = re.compile(rf"(?P<name>{_NAME})==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)")
_PUBLIC_DEF = re.compile(rb"^(?:async[ \t]+def|def|class)[ \t]+[A-Za-z]", re.M)
_DOCSTRING_FIRST = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]*[rRuU]?(?:\"|')"
)
_CODE_DIRECTIVE = re.compile(r"^\s*\.\.\s+(?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$")
_UNDERLINE = re.compile(r"^\s*([-=~^])\1{2,}\s*$")


def installed_package(name: str) -> tuple[str, list[Item]]:
    """The version and API-reference items of an installed distribution (`pkg:NAME`)."""
    name = name.removeprefix("pkg:")
    label = f"pkg:{name}"
    missing = SourceError(f"{label}: not installed; pip install {name} or use pypi:{name}==VERSION")
    if not re.fullmatch(_NAME, name):
        raise missing
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise missing from None
    return dist.version, _items(label, _installed_files(dist), dist.version)


def pypi_package(spec: str, cache_dir: Path, *, timeout: float) -> tuple[str, list[Item]]:
    """The version and API-reference items of `pypi:NAME==VERSION`, downloaded once with pip."""
    name, version = _parse_spec(spec)
    label = f"pypi:{name}=={version}"
    folder = cache_dir / "pypi" / f"{_canonical(name)}-{version}"
    archive = _cached_archive(folder) or _download(label, name, version, folder, timeout)
    return version, _items(label, _read_archive(label, archive), version)


def parse_module(
    source: str, data: bytes, *, version: str | None = None, names: Names = None
) -> Document:
    """The API reference of one module's source as a Document (title is the dotted module name)."""
    try:
        tree = ast.parse(data, filename=source)
    except SyntaxError as exc:
        raise SourceError(
            f"{source}: syntax error at line {exc.lineno}: {exc.msg}; module skipped"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{source}: cannot parse ({exc}); module skipped") from None
    blocks = _prose(_docstring(tree), ()) if names is None else []
    blocks += _body_blocks(tree.body, (), names)
    return Document(
        source=source, title=_dotted(source), blocks=blocks, version=version, format="py"
    )


# --- choosing modules -------------------------------------------------------------------


def _items(label: str, files: dict[str, bytes], version: str) -> list[Item]:
    """Items for the modules worth documenting; none at all is an error."""
    chosen = _select(files)
    if not chosen:
        raise SourceError(f"{label}: no public Python modules found")
    return [_item(path, files[path], names, version) for path, names in sorted(chosen.items())]


def _item(path: str, data: bytes, names: Names, version: str) -> Item:
    """One module as an Item whose load parses it on demand."""
    load = functools.partial(parse_module, path, data, version=version, names=names)
    return Item(source=path, fingerprint=fingerprint(data), load=load)


def _select(files: dict[str, bytes]) -> dict[str, Names]:
    """Public modules defining something, plus private modules whose names a package re-exports."""
    chosen: dict[str, Names] = {}
    exports: dict[str, Names] = {}
    for path, data in files.items():
        if _is_private(path):
            continue
        if _PUBLIC_DEF.search(data) or _DOCSTRING_FIRST.match(data):
            chosen[path] = None
        if path.endswith("/__init__.py"):
            _collect_reexports(path, data, files, exports)
    for path, names in exports.items():
        if path not in chosen and _defines(files[path], names):
            chosen[path] = names
    return chosen


def _collect_reexports(
    path: str, data: bytes, files: dict[str, bytes], exports: dict[str, Names]
) -> None:
    """Record which private modules a package `__init__` re-exports names from."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError):
        return
    for node in _top_statements(tree.body):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = _import_base(path, node)
        if base is None:
            continue
        target = _module_file(base, files)
        for alias in node.names:
            submodule = _module_file(f"{base}/{alias.name}" if base else alias.name, files)
            if submodule and _is_private(submodule):
                _merge(exports, submodule, None)
            elif target and _is_private(target):
                _merge(exports, target, None if alias.name == "*" else frozenset({alias.name}))


def _top_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, including those inside `if` and `try` blocks."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _top_statements(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            handlers = [stmt for handler in node.handlers for stmt in handler.body]
            yield from _top_statements(node.body + handlers + node.orelse + node.finalbody)


def _import_base(path: str, node: ast.ImportFrom) -> str | None:
    """The slash-separated module path a `from X import ...` refers to, or None when outside."""
    module = node.module.split(".") if node.module else []
    if node.level == 0:
        return "/".join(module)
    package = path.split("/")[:-1]
    if node.level - 1 > len(package):
        return None
    return "/".join(package[: len(package) - node.level + 1] + module)


def _module_file(module: str, files: dict[str, bytes]) -> str | None:
    """The file of a slash-separated module path among the package files."""
    for candidate in (f"{module}.py", f"{module}/__init__.py"):
        if candidate in files:
            return candidate
    return None


def _merge(exports: dict[str, Names], path: str, names: Names) -> None:
    """Add names (None = all) to what a module is documented for."""
    if path in exports and exports[path] is None:
        return
    exports[path] = None if names is None else names | (exports.get(path) or frozenset())


def _defines(data: bytes, names: Names) -> bool:
    """Whether the source defines at top level a public function or class (among names)."""
    if names is None:
        return bool(_PUBLIC_DEF.search(data))
    wanted = b"|".join(re.escape(name.encode()) for name in sorted(names))
    return bool(
        re.search(rb"^(?:async[ \t]+def|def|class)[ \t]+(?:" + wanted + rb")\b", data, re.M)
    )


def _candidate(path: PurePosixPath) -> bool:
    """Whether a package file is a module to consider (not a test, vendored copy or metadata)."""
    if path.suffix != ".py" or path.name in SKIP_FILES or path.name.endswith(GENERATED_SUFFIXES):
        return False
    if path.is_absolute() or ".." in path.parts:
        return False
    folders = path.parts[:-1]
    return not any(part in SKIP_DIRS or part.endswith(SKIP_DIR_SUFFIXES) for part in folders)


def _is_private(path: str) -> bool:
    """Whether a module path has a part starting with `_` (`__init__.py` itself is not private)."""
    parts = path.split("/")
    if parts[-1] == "__init__.py":
        parts = parts[:-1]
    return any(part.startswith("_") for part in parts)


def _dotted(path: str) -> str:
    """The dotted module name of a module path."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


# --- reading files ----------------------------------------------------------------------


def _installed_files(dist: importlib.metadata.Distribution) -> dict[str, bytes]:
    """The candidate module files of an installed distribution, by package-relative path."""
    files: dict[str, bytes] = {}
    for rel in dist.files or []:
        path = PurePosixPath(rel.as_posix())
        if not _candidate(path):
            continue
        full = Path(str(dist.locate_file(rel)))
        try:
            if full.stat().st_size <= MAX_MODULE_BYTES:
                files[str(path)] = full.read_bytes()
        except OSError:
            continue
    return files


def _read_archive(label: str, archive: Path) -> dict[str, bytes]:
    """The candidate module files inside a wheel or an sdist, read without extracting."""
    try:
        if archive.name.endswith(WHEEL_SUFFIXES):
            return _read_zip(archive, sdist=False)
        files = (
            _read_zip(archive, sdist=True) if archive.name.endswith(".zip") else _read_tar(archive)
        )
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise SourceError(f"{label}: cannot read {archive.name}: {exc}") from None
    return _sdist_packages(files)


def _read_zip(archive: Path, *, sdist: bool) -> dict[str, bytes]:
    """Module files of a zip (a wheel, or an old zipped sdist)."""
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = _member_path(info.filename, sdist=sdist)
            if not info.is_dir() and info.file_size <= MAX_MODULE_BYTES and path:
                files[str(path)] = zf.read(info)
    return files


def _read_tar(archive: Path) -> dict[str, bytes]:
    """Module files of a tarred sdist, read in stream order."""
    files: dict[str, bytes] = {}
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            path = _member_path(member.name, sdist=True)
            if not member.isfile() or member.size > MAX_MODULE_BYTES or not path:
                continue
            stream = tf.extractfile(member)
            if stream is not None:
                files[str(path)] = stream.read()
    return files


def _member_path(name: str, *, sdist: bool) -> PurePosixPath | None:
    """The package-relative path of an archive member (sdists lose their top folder and `src/`)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if sdist:
        parts = parts[1:]
        if parts[:1] == ("src",):
            parts = parts[1:]
    path = PurePosixPath(*parts) if parts else None
    return path if path and _candidate(path) else None


def _sdist_packages(files: dict[str, bytes]) -> dict[str, bytes]:
    """Only sdist files inside packages or top-level modules (not setup.py, docs/, examples/)."""
    packages = {
        path.split("/")[0]
        for path in files
        if path.count("/") == 1 and path.endswith("/__init__.py")
    }
    return {
        path: data
        for path, data in files.items()
        if path.split("/")[0] in packages or ("/" not in path and path not in SDIST_SCRIPTS)
    }


# --- downloading ------------------------------------------------------------------------


def _parse_spec(spec: str) -> tuple[str, str]:
    """NAME and VERSION from `pypi:NAME==VERSION`."""
    match = _SPEC.fullmatch(spec.removeprefix("pypi:").strip())
    if not match:
        raise SourceError(
            f"{spec}: expected pypi:NAME==VERSION with an exact version, "
            "like pypi:delta-spark==4.0.0"
        )
    return match["name"], match["version"]


def _canonical(name: str) -> str:
    """The normalized project name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _cached_archive(folder: Path) -> Path | None:
    """A wheel (preferred) or sdist already downloaded into folder."""
    if not folder.is_dir():
        return None
    found = sorted(path for path in folder.iterdir() if path.is_file())
    for suffixes in (WHEEL_SUFFIXES, SDIST_SUFFIXES):
        for path in found:
            if path.name.endswith(suffixes):
                return path
    return None


def _download(label: str, name: str, version: str, folder: Path, timeout: float) -> Path:
    """Download the wheel (else the sdist) with pip and move it into folder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=folder.parent))
    try:
        result = _pip(label, name, version, tmp, ["--only-binary", ":all:"], timeout)
        if result.returncode != 0:
            result = _pip(label, name, version, tmp, [], timeout)
        downloaded = _cached_archive(tmp)
        if result.returncode != 0 or downloaded is None:
            raise SourceError(f"{label}: pip download failed: {_pip_error(result)}")
        folder.mkdir(exist_ok=True)
        return downloaded.replace(folder / downloaded.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pip(
    label: str, name: str, version: str, dest: Path, extra: list[str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run `pip download --no-deps` for one exact release."""
    command = [
        sys.executable,
        *("-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input"),
        *("--timeout", f"{timeout:g}", "--dest", str(dest), *extra, f"{name}=={version}"),
    ]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SourceError(f"{label}: pip download timed out after {timeout:g} s") from None
    except OSError as exc:
        raise SourceError(f"{label}: cannot run pip: {exc}") from None


def _pip_error(result: subprocess.CompletedProcess[str]) -> str:
    """Pip's last error line (or last output line) as the reason."""
    lines = [
        line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()
    ]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else f"pip exited with code {result.returncode}"


# --- building blocks --------------------------------------------------------------------


def _body_blocks(body: list[ast.stmt], prefix: tuple[str, ...], names: Names = None) -> list[Block]:
    """Blocks of the public definitions in a body, minus `@overload` stubs of implemented names."""
    implemented = {n.name for n in body if isinstance(n, Function) and not _is_overload(n)}
    blocks: list[Block] = []
    for node in body:
        if not (isinstance(node, Function) and _is_overload(node) and node.name in implemented):
            blocks += _definition_blocks(node, prefix, names)
    return blocks


def _is_overload(node: Function) -> bool:
    """Whether a function is a `typing.overload` stub."""
    return any(
        (isinstance(dec, ast.Name) and dec.id == "overload")
        or (isinstance(dec, ast.Attribute) and dec.attr == "overload")
        for dec in node.decorator_list
    )


def _definition_blocks(node: ast.stmt, prefix: tuple[str, ...], names: Names = None) -> list[Block]:
    """Blocks of a public class or function definition; nothing for other statements."""
    if not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return []
    if node.name.startswith("_") or (names is not None and node.name not in names):
        return []
    if isinstance(node, ast.ClassDef):
        return _class_blocks(node, prefix)
    return _function_blocks(node, prefix)


def _class_blocks(node: ast.ClassDef, prefix: tuple[str, ...]) -> list[Block]:
    """The class signature (with `__init__` merged in), its docstring, then its public members."""
    heads = (*prefix, node.name)
    inits = [
        child for child in node.body if isinstance(child, Function) and child.name == "__init__"
    ]
    blocks = [Block(_fence(_class_signature(node, inits)), heads, code=True)]
    blocks += _prose(_docstring(node), heads)
    for init in inits:
        blocks += _prose(_docstring(init), heads)
    return blocks + _body_blocks(node.body, heads)


def _function_blocks(node: Function, prefix: tuple[str, ...]) -> list[Block]:
    """The function signature with its decorators, then its docstring paragraphs."""
    heads = (*prefix, node.name)
    signature = "\n".join([*_decorators(node), _def_line(node)])
    return [Block(_fence(signature), heads, code=True), *_prose(_docstring(node), heads)]


def _class_signature(node: ast.ClassDef, inits: list[Function]) -> str:
    """`class Name(bases):` with decorators, `__init__` signatures and public annotated fields."""
    bases = [ast.unparse(base) for base in node.bases] + [ast.unparse(kw) for kw in node.keywords]
    lines = [
        *_decorators(node),
        f"class {node.name}({', '.join(bases)}):" if bases else f"class {node.name}:",
    ]
    lines += [f"    {_def_line(init)}" for init in inits]
    for child in node.body:
        target = child.target if isinstance(child, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and not target.id.startswith("_"):
            lines.append(f"    {ast.unparse(child)}")
    return "\n".join(lines)


def _def_line(node: Function) -> str:
    """`def name(args) -> ret` (or `async def`)."""
    keyword = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{keyword} {node.name}({ast.unparse(node.args)}){returns}"


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


def _fence(code: str, lang: str = "python") -> str:
    """A fenced markdown code block."""
    return f"```{lang}\n{code}\n```"


def _prose(doc: str, heads: tuple[str, ...]) -> list[Block]:
    """Docstring paragraphs and code examples as blocks under heads."""
    return [Block(text, heads, code=code) for text, code in split_docstring(doc)]


# --- splitting docstrings ---------------------------------------------------------------


def split_docstring(doc: str) -> list[tuple[str, bool]]:
    """Cut a cleaned docstring into (text, is_code) pieces: paragraphs, doctests and code blocks."""
    lines = doc.splitlines()
    pieces: list[tuple[str, bool]] = []
    para: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        code, end = _code_at(lines, i)
        if code is not None:
            pieces += _paragraphs(para) + ([(code, True)] if code else [])
            para, i = [], end
        elif not stripped:
            pieces += _paragraphs(para)
            para, i = [], i + 1
        elif stripped.endswith("::") and _indented(lines, i):
            body, end = _indented_body(lines, i + 1, _indent(line))
            para.append(_literal_intro(line))
            pieces += [*_paragraphs([p for p in para if p.strip()]), (_fence(body), True)]
            para, i = [], end
        else:
            if para and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]):
                pieces += _paragraphs(para)
                para = []
            para.append(line)
            i += 1
    return pieces + _paragraphs(para)


def _literal_intro(line: str) -> str:
    """The line introducing an rst literal block, as rst renders it (`Example::` -> `Example:`)."""
    text = line.rstrip()[:-2].rstrip()
    return text if not text or text.endswith((".", ":", ";", "!", "?", ",")) else f"{text}:"


def _code_at(lines: list[str], i: int) -> tuple[str | None, int]:
    """The code starting at line i (``` fence, code directive or doctest) and the line after it."""
    stripped = lines[i].strip()
    if stripped.startswith("```"):
        end = next(
            (j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```")),
            len(lines) - 1,
        )
        return textwrap.dedent("\n".join(lines[i : end + 1])), end + 1
    directive = _CODE_DIRECTIVE.match(lines[i])
    if directive:
        body, end = _indented_body(lines, i + 1, _indent(lines[i]))
        return (_fence(body, directive["lang"]) if body else ""), end
    if stripped.startswith(">>>"):
        end = next((j for j in range(i, len(lines)) if not lines[j].strip()), len(lines))
        return _fence(textwrap.dedent("\n".join(lines[i:end]))), end
    return None, i


def _indented(lines: list[str], i: int) -> bool:
    """Whether an indented block follows line i (after blank lines), as for an rst `::` literal."""
    following = next((line for line in lines[i + 1 :] if line.strip()), None)
    return following is not None and _indent(following) > _indent(lines[i])


def _indented_body(lines: list[str], start: int, base: int) -> tuple[str, int]:
    """The dedented block indented deeper than base from start (skipping directive options)."""
    i = start
    while i < len(lines) and lines[i].strip().startswith(":") and _indent(lines[i]) > base:
        i += 1
    end = i
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    body = lines[i:end]
    while body and not body[-1].strip():
        body.pop()
    return textwrap.dedent("\n".join(body)).strip("\n"), end


def _indent(line: str) -> int:
    """The number of leading spaces."""
    return len(line) - len(line.lstrip())


def _paragraphs(lines: list[str]) -> list[tuple[str, bool]]:
    """A paragraph as prose pieces, long ones cut at item boundaries (numpy or Google sections)."""
    if not lines:
        return []
    return [(textwrap.dedent("\n".join(group)), False) for group in _pack(_groups(lines))]


def _groups(lines: list[str]) -> list[list[str]]:
    """Lines cut where an item starts (as shallow as any line after the first), deeper as needed."""
    if len(lines) == 1 or _size(lines) <= PARAGRAPH_CHARS:
        return [lines]
    item_indent = min(_indent(line) for line in lines[1:])
    groups: list[list[str]] = [[lines[0]]]
    for line in lines[1:]:
        if _indent(line) <= item_indent and not _UNDERLINE.match(line):
            groups.append([line])
        else:
            groups[-1].append(line)
    if len(groups) == 1:
        return groups
    return [piece for group in groups for piece in _groups(group)]


def _size(lines: list[str]) -> int:
    """The characters of lines joined by newlines (plus one)."""
    return sum(len(line) + 1 for line in lines)


def _pack(groups: list[list[str]]) -> list[list[str]]:
    """Join consecutive groups while they fit in PARAGRAPH_CHARS."""
    packed: list[list[str]] = []
    size = 0
    for group in groups:
        group_size = _size(group)
        if packed and size + group_size <= PARAGRAPH_CHARS:
            packed[-1].extend(group)
            size += group_size
        else:
            packed.append(list(group))
            size = group_size
    return packed
