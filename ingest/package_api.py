"""A Python package as API-reference items, one per module that holds public entries.

The module files come from ingest.packages (an install or a PyPI archive, never run), the public
API is worked out once per package content (ingest.public_api, cached), and each item is parsed
on demand by ingest.apiref and fingerprinted with apiref's version and the module's public names.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from ingest import apiref, packages
from ingest.items import Item, fingerprint
from ingest.public_api import ModuleAPI, public_api, rule_key
from rag.errors import SourceError


def installed_package(name: str, cache_dir: Path | None = None) -> tuple[str, list[Item]]:
    """The version and API-reference items of an installed distribution (`pkg:NAME`)."""
    label, version, files = packages.installed_files(name)
    return version, _items(label, files, version, cache_dir)


def pypi_package(spec: str, cache_dir: Path, *, timeout: float) -> tuple[str, list[Item]]:
    """The version and API-reference items of `pypi:NAME==VERSION`, downloaded once with pip."""
    label, version, files = packages.pypi_files(spec, cache_dir, timeout=timeout)
    return version, _items(label, files, version, cache_dir)


def _items(label: str, files: packages.Files, version: str, cache_dir: Path | None) -> list[Item]:
    """One item per file that holds public entries; none at all is an error."""
    api = _cached_api(files, cache_dir) if cache_dir else public_api(files)
    if not api:
        raise SourceError(f"{label}: no public Python API found")
    return [_item(path, files[path], api[path], version) for path in sorted(api)]


def _cached_api(files: packages.Files, cache_dir: Path) -> dict[str, ModuleAPI]:
    """The public API of a package, computed once per content and parser, then read back."""
    digest = hashlib.sha256(apiref.PARSER_VERSION.encode())
    digest.update(rule_key().encode())
    for path in sorted(files):
        digest.update(b"\0%s\0%d\0" % (path.encode(), len(files[path])))
        digest.update(files[path])
    cached = cache_dir / "apiref" / f"{digest.hexdigest()[:32]}.json"
    try:
        stored = json.loads(cached.read_text(encoding="utf-8"))
        return {path: ModuleAPI.from_dict(entry) for path, entry in stored.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass  # not computed yet, or unreadable: compute it again
    api = public_api(files)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({p: asdict(e) for p, e in api.items()}), encoding="utf-8")
        partial.replace(cached)
    except OSError:
        pass  # a cache that cannot be written only costs the next run this work again
    return api


def _item(path: str, data: bytes, api: ModuleAPI, version: str) -> Item:
    """One file as an item, fingerprinted with the parser version and its public names."""
    names = json.dumps([api.names, api.also, api.module, api.error], sort_keys=True)
    marker = fingerprint(b"\0".join([apiref.PARSER_VERSION.encode(), data, names.encode()]))
    load = functools.partial(apiref.parse_module, path, data, version=version, api=api)
    return Item(source=path, fingerprint=marker, load=load)
