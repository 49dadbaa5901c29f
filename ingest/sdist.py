"""A release's sdist fetched as a plain file from the package index pip is configured with (its
simple API, PEP 691 JSON or PEP 503 HTML): `pip download` would run the sdist's build backend."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from rag.errors import SourceError

PYPI = "https://pypi.org/simple/"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, text/html;q=0.1"
SDIST_SUFFIXES = (".tar.gz", ".zip")
MAX_SDIST_BYTES = 200_000_000
# pip's precedence among the places an option can be set: environment, then the files'
# [download] section, then [global].
SCOPES = (":env:", "download", "global")


def index_urls() -> list[str]:
    """The index URL and extra index URLs pip is configured with (PyPI when none is set)."""
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        listed = ""
    options: dict[tuple[str, str], str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        scope, _, option = key.rpartition(".")
        options[(scope, option)] = value.strip().strip("'\"")
    if _option(options, "no-index", "").lower() in ("1", "true", "yes", "on"):
        return []  # an air-gapped setup (PIP_NO_INDEX=1 with PIP_FIND_LINKS): no index at all
    main = _option(options, "index-url", PYPI)
    extras = [u for s in SCOPES for u in options.get((s, "extra-index-url"), "").split()]
    return list(dict.fromkeys([main, *extras]))


def _option(options: dict[tuple[str, str], str], name: str, default: str) -> str:
    """A pip option's value from the place that takes precedence."""
    return next((options[(s, name)] for s in SCOPES if (s, name) in options), default)


def fetch_sdist(label: str, name: str, version: str, folder: Path, timeout: float) -> Path:
    """Download the release's sdist into folder from the first index that lists it."""
    indexes = index_urls()
    reasons = [] if indexes else ["pip is set to use no index"]
    for index in indexes:
        try:
            found = _listed_sdist(index, name, version, timeout)
        except SourceError as exc:
            reasons.append(str(exc))
            continue
        if found:
            url, filename, digest = found
            return _download(label, url, folder / filename, digest, timeout)
    where = "; ".join(reasons) if reasons else "no index lists one"
    raise SourceError(f"{label}: no wheel, and no sdist of {name} {version} to read ({where})")


def _listed_sdist(
    index: str, name: str, version: str, timeout: float
) -> tuple[str, str, str | None] | None:
    """(URL, file name, sha256) of the release's sdist on one index's project page, or None."""
    page = urllib.parse.urljoin(index.rstrip("/") + "/", canonical(name) + "/")
    if urllib.parse.urlsplit(page).scheme not in ("http", "https", "file"):
        return None
    request = urllib.request.Request(page, headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            kind = response.headers.get_content_type() if response.headers else ""
            body = response.read(20_000_000).decode("utf-8", errors="replace")
            base = response.geturl()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise SourceError(f"{page}: HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            return None
        raise SourceError(f"{page}: {getattr(exc, 'reason', exc)}") from exc
    links = _json_links(body) if kind == JSON_TYPE else _html_links(body)
    for href, filename, digest in links:
        if _is_sdist_of(filename, name, version):
            return urllib.parse.urljoin(base, href), filename, digest
    return None


def _json_links(body: str) -> list[tuple[str, str, str | None]]:
    """(URL, file name, sha256) of each file of a PEP 691 project page."""
    try:
        files = json.loads(body).get("files", [])
    except (ValueError, AttributeError):
        return []
    return [
        (str(f["url"]), str(f["filename"]), (f.get("hashes") or {}).get("sha256"))
        for f in files
        if isinstance(f, dict) and "url" in f and "filename" in f
    ]


class _Anchors(HTMLParser):
    """The href and text of each anchor of a PEP 503 project page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links.append((self._href, data.strip()))
            self._href = None


def _html_links(body: str) -> list[tuple[str, str, str | None]]:
    """(URL, file name, sha256) of each file of a PEP 503 project page."""
    parser = _Anchors()
    parser.feed(body)
    out = []
    for href, text in parser.links:
        url, _, fragment = href.partition("#")
        digest = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
        out.append((url, text, digest))
    return out


def _is_sdist_of(filename: str, name: str, version: str) -> bool:
    """Whether a file name is the sdist of that release (`name-version.tar.gz`, any spelling)."""
    suffix = next((s for s in SDIST_SUFFIXES if filename.endswith(s)), None)
    if suffix is None:
        return False
    project, _, release = filename.removesuffix(suffix).rpartition("-")
    return canonical(project) == canonical(name) and release == version


def _download(label: str, url: str, target: Path, digest: str | None, timeout: float) -> Path:
    """The file at url saved as target, checked against the index's sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    sha = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
            size = 0
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > MAX_SDIST_BYTES:
                    raise SourceError(f"{label}: the sdist is larger than {MAX_SDIST_BYTES} bytes")
                sha.update(chunk)
                out.write(chunk)
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise SourceError(f"{label}: cannot download {url}: {getattr(exc, 'reason', exc)}") from exc
    except SourceError:
        partial.unlink(missing_ok=True)
        raise
    if digest and sha.hexdigest() != digest.lower():
        partial.unlink(missing_ok=True)
        raise SourceError(f"{label}: {url} does not match the index's sha256; not read")
    return partial.replace(target)


def canonical(name: str) -> str:
    """The normalized project name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()
