"""Where documents come from: folders and files, package API references, URLs and archives."""

from __future__ import annotations

import csv
import fnmatch
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ingest import apiref, fetch
from ingest.items import Item, fingerprint
from ingest.loaders import SUPPORTED_SUFFIXES, load_file
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
            )
        )
    return specs


def resolve(spec: SourceSpec, settings: Settings) -> Source:
    """Turn a spec into a Source, downloading into the cache when it is remote."""
    text = spec.spec
    if spec.mirror and settings.mirror is not None:
        root = settings.mirror.expanduser().resolve()
        if not (root / spec.mirror).exists():
            raise SourceError(f"{text}: mirror folder {root / spec.mirror} not found; fix --mirror")
        # A mirror is laid out like the published corpus: no prefix or include filter applies.
        mirrored = SourceSpec(spec.spec, spec.name, spec.product, spec.version)
        origin = spec.name or str(root / spec.mirror)
        return _folder(root, mirrored, settings, origin=origin, under=spec.mirror)
    if text.startswith("pkg:"):
        version, items = apiref.installed_package(text[4:])
        return Source(text, items, spec.product or infer_product(text), spec.version or version)
    if text.startswith("pypi:"):
        version, items = apiref.pypi_package(
            text, settings.cache_dir, timeout=max(settings.fetch_timeout, 120.0)
        )
        return Source(text, items, spec.product or infer_product(text), spec.version or version)
    if "://" in text:
        return _remote(spec, settings)
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(f"{text}: no such file or folder; check the path")
    path = path.resolve()
    if path.is_file():
        return _single_file(path, spec, settings)
    return _folder(path, spec, settings, origin=spec.name or str(path))


def _remote(spec: SourceSpec, settings: Settings) -> Source:
    """A page or a docs archive fetched over http(s) into the cache."""
    scheme = spec.spec.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise SourceError(f"{spec.spec}: refused: only http(s) URLs are fetched")
    local = fetch.fetch_url(
        spec.spec,
        settings.cache_dir,
        timeout=settings.fetch_timeout,
        max_bytes=settings.max_download_bytes,
    )
    origin = spec.name or spec.spec
    if fetch.is_archive(local.name):
        root = fetch.extract_archive(
            local, local.parent / "extracted", max_bytes=settings.max_download_bytes * 10
        )
        return _folder(root, spec, settings, origin=origin)
    source = _single_file(local, spec, settings, origin=origin)
    source.urls = {local.name: spec.spec}
    return source


def _single_file(
    path: Path, spec: SourceSpec, settings: Settings, origin: str | None = None
) -> Source:
    """One file, its source being its name."""
    items = [_file_item(path, path.name, settings.max_file_bytes)]
    return Source(origin or spec.name or str(path), items, spec.product, spec.version)


def _folder(
    root: Path, spec: SourceSpec, settings: Settings, *, origin: str, under: str | None = None
) -> Source:
    """Every supported file below root (or below root/under), sources relative to root."""
    base = root / under if under else root
    items = []
    for path in walk(base):
        rel = path.relative_to(root).as_posix()
        if spec.include and not any(fnmatch.fnmatch(rel, g) for g in spec.include):
            continue
        source = f"{spec.prefix.strip('/')}/{rel}" if spec.prefix else rel
        items.append(_file_item(path, source, settings.max_file_bytes))
    return Source(origin, items, spec.product, spec.version, urls=read_manifest(root))


def walk(root: Path) -> Iterator[Path]:
    """Supported files below root in a stable order, skipping hidden entries and links out of root."""
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                continue
            yield path


def _file_item(path: Path, source: str, max_bytes: int) -> Item:
    """An item whose fingerprint is the file's bytes; unreadable files fail when loaded."""
    try:
        size = path.stat().st_size
        marker = f"too-large:{size}" if size > max_bytes else fingerprint(path.read_bytes())
    except OSError as exc:
        reason = exc.strerror or str(exc)

        def fail() -> Document:
            raise SourceError(f"{source}: cannot read ({reason}); check its permissions")

        return Item(source, f"unreadable:{reason}", fail)
    return Item(source, marker, lambda: load_file(path, source, max_bytes=max_bytes))


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
