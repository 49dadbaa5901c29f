"""Where documents come from: folders and files, package API references, URLs and archives."""

from __future__ import annotations

import csv
import fnmatch
import glob
import hashlib
import os
import re
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from ingest import fetch, package_api
from ingest.items import Item, fingerprint
from ingest.loaders import (
    PARSER_VERSION,
    is_notebook_source,
    is_refused,
    is_supported,
    load_file,
)
from rag.errors import SourceError
from rag.models import Document
from rag.settings import Settings

PRODUCTS = ("spark", "delta", "mlflow")
GITHUB_BLOB = "https://github.com/{repo}/blob/{commit}/{path}"


@dataclass
class Source:
    """A resolved source: a stable origin label plus the items it holds."""

    origin: str
    items: list[Item]
    product: str | None = None
    version: str | None = None
    urls: dict[str, str] = field(default_factory=dict)
    url_base: str | None = None
    # The items are all the source holds (a package's API), so indexed files it no longer
    # lists are stale and go on every run, not only with --prune.
    exhaustive: bool = False
    # Paths (globs) of reference material for implementers, such as a protocol specification:
    # ranked with the API reference rather than with the guides.
    reference: tuple[str, ...] = ()

    def is_reference(self, source: str) -> bool:
        """Whether one item is reference material rather than a guide."""
        return any(fnmatch.fnmatch(source, glob) for glob in self.reference)

    def product_of(self, source: str) -> str:
        """The product of one item: configured, else read from its path, else "docs"."""
        if self.product:
            return self.product
        return infer_product(f"{self.origin}/{source}")

    def url_of(self, source: str) -> str | None:
        """The upstream URL of one item when known."""
        if url := self.urls.get(source):
            return url
        return self.url_base + source if self.url_base else None


@dataclass(frozen=True)
class SourceSpec:
    """One entry of sources.toml (or one command-line argument)."""

    spec: str
    name: str | None = None
    product: str | None = None
    version: str | None = None
    include: tuple[str, ...] = ()
    prefix: str = ""
    mirror: str | None = None
    reference: tuple[str, ...] = ()


def infer_product(path: str) -> str:
    """The product named first in a path (spark, delta or mlflow), else "docs"."""
    for part in PurePosixPath(path.lower()).parts:
        named = [(part.find(p), p) for p in PRODUCTS if p in part]
        if named:
            return min(named)[1]
    return "docs"


def read_sources_file(path: Path) -> list[SourceSpec]:
    """The entries of a sources.toml; relative paths are resolved against its folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SourceError(f"{path}: cannot read the sources list ({exc}); fix the file") from exc
    specs = []
    for entry in data.get("source", []):
        if "path" in entry:
            spec = str((path.parent / entry["path"]).resolve())
        elif "url" in entry:
            spec = entry["url"]
        elif "package" in entry:
            spec = entry["package"]
        else:
            raise SourceError(f"{path}: an entry needs path, url or package: {entry}")
        specs.append(
            SourceSpec(
                spec=spec,
                name=entry.get("name"),
                product=entry.get("product"),
                version=entry.get("version"),
                include=tuple(entry.get("include", ())),
                prefix=entry.get("prefix", ""),
                mirror=entry.get("mirror"),
                reference=tuple(entry.get("reference", ())),
            )
        )
    return specs


def resolve(spec: SourceSpec, settings: Settings) -> Source:
    """Turn a spec into a Source, downloading into the cache when it is remote."""
    source = _resolve(spec, settings)
    if spec.reference:
        source.reference = spec.reference
        # A file that becomes (or stops being) reference material is indexed again.
        source.items = [
            replace(item, fingerprint=f"{item.fingerprint}+reference")
            if source.is_reference(item.source)
            else item
            for item in source.items
        ]
    return source


def _resolve(spec: SourceSpec, settings: Settings) -> Source:
    """resolve() before the reference globs apply."""
    text = spec.spec
    if spec.mirror and settings.mirror is not None:
        root = settings.mirror.expanduser().resolve()
        archive = _mirrored_archive(root, spec.mirror)
        if archive is not None:  # the archive as downloaded: its include and prefix apply
            return _local_archive(archive, spec, settings)
        if not (root / spec.mirror).exists():
            raise SourceError(
                f"{text}: mirror folder {root / spec.mirror} not found (nor an archive "
                f"{root / spec.mirror}.tar.gz); fix --mirror"
            )
        # A mirror folder is laid out like the published corpus: no prefix or include applies.
        mirrored = SourceSpec(spec.spec, spec.name, spec.product, spec.version)
        origin = spec.name or str(root / spec.mirror)
        return _folder(root, mirrored, settings, origin=origin, under=spec.mirror)
    if text.startswith("pkg:"):
        version, items = package_api.installed_package(text[4:], settings.cache_dir)
        product = spec.product or infer_product(text)
        return Source(text, items, product, spec.version or version, exhaustive=True)
    if text.startswith("pypi:"):
        version, items = package_api.pypi_package(
            text, settings.cache_dir, timeout=max(settings.fetch_timeout, 120.0)
        )
        product = spec.product or infer_product(text)
        return Source(text, items, product, spec.version or version, exhaustive=True)
    if "://" in text:
        return _remote(spec, settings)
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(f"{text}: no such file or folder; check the path")
    path = path.resolve()
    if path.is_file() and fetch.is_archive(path.name):
        return _local_archive(path, spec, settings)
    if path.is_file():
        return _single_file(path, spec, settings)
    return _folder(path, spec, settings, origin=spec.name or str(path))


def _mirrored_archive(root: Path, name: str) -> Path | None:
    """The source's archive in a mirror folder (spark.tar.gz, spark.zip, ...), if there is one."""
    for path in sorted(root.glob(f"{glob.escape(name)}.*")):
        if path.is_file() and fetch.is_archive(path.name):
            return path
    return None


def _offline_fix(spec: SourceSpec, settings: Settings) -> str:
    """What to do about a remote source this machine cannot reach."""
    if spec.mirror:
        return (
            f"to ingest it offline, pass --mirror DIR with a local copy in DIR/{spec.mirror} "
            f"(laid out like the shared corpus) or the archive itself as DIR/{spec.mirror}.tar.gz, "
            f"or remove it from {settings.sources_file}"
        )
    return "check the URL and the network, or leave this source out"


def _local_archive(path: Path, spec: SourceSpec, settings: Settings) -> Source:
    """A docs archive on disk, extracted into the cache like a downloaded one."""
    key = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    root = fetch.extract_archive(
        path,
        settings.cache_dir / "archives" / key,
        max_bytes=settings.max_extract_bytes,
        max_files=settings.max_archive_files,
        label=str(path),
    )
    return _folder(root, spec, settings, origin=spec.name or str(path))


def _remote(spec: SourceSpec, settings: Settings) -> Source:
    """A page or a docs archive fetched over http(s) into the cache."""
    scheme = spec.spec.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise SourceError(f"{spec.spec}: refused: only http(s) URLs are fetched")
    try:
        local = fetch.fetch_url(
            spec.spec,
            settings.cache_dir,
            timeout=settings.fetch_timeout,
            max_bytes=settings.max_download_bytes,
            max_seconds=settings.max_download_seconds,
        )
    except fetch.Unreachable as exc:
        raise SourceError(f"{exc}; {_offline_fix(spec, settings)}") from None
    origin = spec.name or spec.spec
    if fetch.is_archive(local.name):
        root = fetch.extract_archive(
            local,
            local.parent / "extracted",
            max_bytes=settings.max_extract_bytes,
            max_files=settings.max_archive_files,
            label=spec.spec,
        )
        return _folder(root, spec, settings, origin=origin)
    source = _single_file(local, spec, settings, origin=origin, label=spec.spec)
    source.urls = {local.name: spec.spec}
    return source


def _single_file(
    path: Path,
    spec: SourceSpec,
    settings: Settings,
    origin: str | None = None,
    label: str | None = None,
) -> Source:
    """One file, its source being its name; label (its URL, say) names it in errors."""
    items = [_file_item(path, path.name, settings.max_file_bytes, label=label)]
    return Source(origin or spec.name or str(path), items, spec.product, spec.version)


def _folder(
    root: Path, spec: SourceSpec, settings: Settings, *, origin: str, under: str | None = None
) -> Source:
    """Every supported file below root (or below root/under), sources relative to root.

    Entries that cannot be read safely (links out of root, pipes, archives, names that are
    not UTF-8) become items that fail with their reason, so each is reported once.
    """
    base = root / under if under else root
    items = []
    for path, problem in walk(base):
        rel = path.relative_to(root).as_posix()
        if spec.include and not any(fnmatch.fnmatch(rel, g) for g in spec.include):
            continue
        source = f"{spec.prefix.strip('/')}/{rel}" if spec.prefix else rel
        if not problem and not _is_utf8(source):
            problem = "file name is not valid UTF-8; rename it"
        if problem:
            items.append(_refused_item(source, problem))
        else:
            items.append(_file_item(path, source, settings.max_file_bytes))
    return Source(origin, items, spec.product, spec.version, urls=read_manifest(root))


def walk(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Files below root in a stable order, each with why it cannot be read (None when it can).

    Hidden entries and unsupported file types are passed over in silence (code files too, unless
    their first line marks a Databricks notebook); symlinks are never followed into folders, and a
    link to a file is read only when it stays inside root.
    """
    real_root = root.resolve()
    # An explicit stack rather than os.walk: depth is bounded by memory, not recursion.
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            yield folder, f"cannot list folder ({exc.strerror or exc}); check its permissions"
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(path)
            elif entry.is_symlink():
                if (link := _link(path, real_root, _wanted(entry.name))) is not None:
                    yield path, link
            elif _wanted(entry.name) or is_notebook_source(path):
                yield path, _entry_problem(path, entry.name)
        stack.extend(reversed(subfolders))


def _wanted(name: str) -> bool:
    """Whether a file name is one to read or to report: a document, an archive, or a format
    refused with its fix (.dbc)."""
    return is_supported(name) or is_refused(name) or fetch.is_archive(name)


def _link(path: Path, real_root: Path, wanted: bool) -> str | None:
    """A symlink's problem; "" for a readable file inside root; None to pass it over."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python 3.11
        return "broken symlink (its target is missing, or a loop); not followed" if wanted else None
    if not target.is_relative_to(real_root):
        if wanted or target.is_dir():
            return "symlink to a path outside the source folder; not followed"
        return None
    if target.is_dir() or not (wanted or is_notebook_source(target, path.name)):
        return None  # a folder inside root is walked directly, never through a link
    return _entry_problem(path, path.name) or ""


def _entry_problem(path: Path, name: str) -> str | None:
    """Why a supported-looking entry cannot be read as a document, or None."""
    if fetch.is_archive(name):
        return (
            "an archive inside a folder is not unpacked; "
            "pass the archive itself as a source to ingest its contents"
        )
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc}); check its permissions"
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe, socket or device); skipped"
    return None


def _is_utf8(text: str) -> bool:
    """Whether a path decoded from the file system is valid UTF-8 (no escaped bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def printable(text: str) -> str:
    """Text safe for one output line: control characters and undecodable bytes escaped."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if "\ud800" <= char <= "\udfff":
            return os.fsencode(char).decode("ascii", "backslashreplace")
        return char.encode("unicode_escape").decode("ascii")

    return _UNPRINTABLE.sub(escape, text)


def _refused_item(source: str, problem: str) -> Item:
    """An item that fails with its one-line reason when loaded."""

    def fail() -> Document:
        raise SourceError(f"{printable(source)}: {problem}")

    return Item(source, f"refused:{problem}", fail)


def _file_item(path: Path, source: str, max_bytes: int, *, label: str | None = None) -> Item:
    """An item whose fingerprint is the file's bytes and the parsers' version; unreadable files
    fail when loaded."""
    try:
        size = path.stat().st_size
        marker = (
            f"too-large:{size}"
            if size > max_bytes
            else fingerprint(b"\0".join([PARSER_VERSION.encode(), path.read_bytes()]))
        )
    except OSError as exc:
        return _refused_item(
            label or source, f"cannot read ({exc.strerror or exc}); check its permissions"
        )

    def load() -> Document:
        try:
            return load_file(path, source, max_bytes=max_bytes)
        except SourceError as exc:
            message = str(exc)
            if label and message.startswith(f"{source}: "):
                message = f"{label}: {message[len(source) + 2 :]}"
            raise SourceError(printable(message)) from exc

    return Item(source, marker, load)


def read_manifest(root: Path) -> dict[str, str]:
    """Upstream URLs from a MANIFEST.tsv laid out like shared/corpus, when present."""
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    urls = {}
    with manifest.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row.get("upstream_repo") and row.get("commit") and row.get("upstream_path"):
                urls[row["local_path"]] = GITHUB_BLOB.format(
                    repo=row["upstream_repo"], commit=row["commit"], path=row["upstream_path"]
                )
    return urls
