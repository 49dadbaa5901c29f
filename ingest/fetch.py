"""Remote sources: http(s) downloads cached under the home folder, and safe archive extraction."""

from __future__ import annotations

import hashlib
import http.client
import json
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from rag.errors import SourceError

CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 5
MAX_NAME_CHARS = 120
USER_AGENT = "lakesage-ingest/0.1"
META_NAME = ".meta.json"
DONE_MARKER = ".lakesage-extracted"
SCHEMES = ("http", "https")
ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
CONTENT_SUFFIXES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "text/x-rst": ".rst",
    "text/plain": ".txt",
    "application/pdf": ".pdf",
    "application/json": ".json",
    "application/zip": ".zip",
    "application/gzip": ".tar.gz",
    "application/x-gzip": ".tar.gz",
    "application/x-tar": ".tar",
}
ARCHIVE_ERRORS = (
    OSError,
    EOFError,
    RuntimeError,  # an encrypted zip member
    NotImplementedError,  # an unsupported zip compression method
    zlib.error,
    lzma.LZMAError,
    tarfile.TarError,
    zipfile.BadZipFile,
)

_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+-]+")


class Unreachable(SourceError):
    """The server could not be reached or failed (a cached copy may stand in)."""


class _RefusedRedirect(Exception):
    """A redirect pointed to a scheme other than http(s)."""


class _NotModified(Exception):
    """The server answered 304: the cached copy is current."""


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most MAX_REDIRECTS redirects, and only to http(s) URLs."""

    max_redirections = MAX_REDIRECTS

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
    ) -> Any:
        """Refuse a redirect to another scheme (urllib would follow ftp://)."""
        location = headers.get("location") or headers.get("uri") or ""
        target = urllib.parse.urljoin(req.full_url, location)
        if location and urllib.parse.urlsplit(target).scheme.lower() not in SCHEMES:
            fp.close()
            raise _RefusedRedirect(target)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_OPENER = urllib.request.build_opener(_Redirects())


def is_archive(name: str) -> bool:
    """Whether a file name is an archive that extract_archive reads."""
    return name.lower().endswith(ZIP_SUFFIXES + TAR_SUFFIXES)


def fetch_url(
    url: str,
    cache_dir: Path,
    *,
    timeout: float,
    max_bytes: int,
    max_seconds: float | None = None,
) -> Path:
    """The local copy of an http(s) URL under cache_dir/urls, downloaded or revalidated.

    timeout bounds each wait on the server; max_seconds bounds the whole body download.
    """
    if urllib.parse.urlsplit(url).scheme.lower() not in SCHEMES:
        raise SourceError(f"{url}: refused: only http(s) URLs are fetched")
    folder = cache_dir / "urls" / hashlib.sha256(url.encode()).hexdigest()[:16]
    meta = _read_meta(folder)
    cached = folder / meta["filename"] if meta.get("filename") else None
    limits = _Limits(timeout, max_bytes, max_seconds)
    if cached is None or not cached.is_file():
        return _download(url, folder, {}, limits)
    if not (meta.get("etag") or meta.get("last_modified")):
        return cached
    try:
        return _download(url, folder, meta, limits)
    except _NotModified:
        return cached
    except Unreachable:
        return cached


@dataclass(frozen=True)
class _Limits:
    """How long and how much one download may take."""

    timeout: float
    max_bytes: int
    max_seconds: float | None


def _download(url: str, folder: Path, meta: dict[str, Any], limits: _Limits) -> Path:
    """GET url (conditionally when meta has validators) into folder; returns the file."""
    with _open(url, _headers(meta), limits.timeout) as response:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limits.max_bytes:
            raise SourceError(f"{url}: larger than {limits.max_bytes} bytes")
        content_type = (
            response.headers.get_content_type() if response.headers.get("Content-Type") else ""
        )
        name = _filename(url, content_type)
        folder.mkdir(parents=True, exist_ok=True)
        path = _stream_to(response, folder / name, url, limits)
    if meta.get("filename") and meta["filename"] != name:
        (folder / meta["filename"]).unlink(missing_ok=True)
    _write_meta(folder, url, name, response.headers)
    return path


def _open(url: str, headers: dict[str, str], timeout: float) -> http.client.HTTPResponse:
    """Open url, turning every failure into a one-line SourceError (or _NotModified)."""
    request = urllib.request.Request(url, headers=headers)
    try:
        response: http.client.HTTPResponse = _OPENER.open(request, timeout=timeout)
        return response
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _http_error(url, exc) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise Unreachable(f"{url}: timed out after {timeout:g} s") from None
        raise Unreachable(f"{url}: unreachable: {_one_line(exc.reason)}") from None
    except _RefusedRedirect as exc:
        raise SourceError(
            f"{url}: refused: redirected to {exc}; only http(s) URLs are fetched"
        ) from None
    except TimeoutError:
        raise Unreachable(f"{url}: timed out after {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"{url}: unreachable: {_one_line(exc)}") from None
    except ValueError as exc:
        raise SourceError(f"{url}: invalid URL: {_one_line(exc)}") from None


def _http_error(url: str, exc: urllib.error.HTTPError) -> Exception:
    """The error for an HTTP error status: not modified, a redirect loop, or a failure."""
    if exc.code == 304:
        return _NotModified()
    if 300 <= exc.code < 400 and str(exc.msg).startswith(_Redirects.inf_msg):
        return SourceError(f"{url}: too many redirects (more than {MAX_REDIRECTS}, or a loop)")
    message = f"{url}: HTTP {exc.code} {_one_line(exc.reason)}"
    # Server-side failures may pass; a cached copy is then better than nothing.
    return Unreachable(message) if exc.code >= 500 else SourceError(message)


def _stream_to(response: http.client.HTTPResponse, path: Path, url: str, limits: _Limits) -> Path:
    """Copy the body to a temp file beside path, then rename it into place."""
    fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_body(response, out, url, limits)
        return tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_body(
    response: http.client.HTTPResponse, out: BinaryIO, url: str, limits: _Limits
) -> None:
    """Stream the body into out, stopping past max_bytes or max_seconds."""
    total = 0
    deadline = time.monotonic() + limits.max_seconds if limits.max_seconds else None
    try:
        # read1 returns what has arrived, so a server trickling bytes meets the deadline.
        while chunk := response.read1(CHUNK_BYTES):
            total += len(chunk)
            if total > limits.max_bytes:
                raise SourceError(f"{url}: larger than {limits.max_bytes} bytes")
            if deadline is not None and time.monotonic() > deadline:
                raise SourceError(
                    f"{url}: download took longer than {limits.max_seconds:g} s; "
                    "raise max_download_seconds or use a closer mirror"
                )
            out.write(chunk)
    except TimeoutError:
        raise Unreachable(f"{url}: timed out after {limits.timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"{url}: download interrupted: {_one_line(exc)}") from None


def _headers(meta: dict[str, Any]) -> dict[str, str]:
    """Request headers, with validators for a conditional GET when known."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if meta.get("etag"):
        headers["If-None-Match"] = meta["etag"]
    if meta.get("last_modified"):
        headers["If-Modified-Since"] = meta["last_modified"]
    return headers


def _filename(url: str, content_type: str) -> str:
    """A safe file name: the URL's last path segment, with an extension from the content type."""
    path = urllib.parse.urlsplit(url).path
    segment = urllib.parse.unquote(path.rsplit("/", 1)[-1])
    name = _UNSAFE_CHARS.sub("_", segment).lstrip("._")[-MAX_NAME_CHARS:]
    if not name:
        return "index" + CONTENT_SUFFIXES.get(content_type, ".html")
    if not _EXTENSION.search(name) and content_type in CONTENT_SUFFIXES:
        name += CONTENT_SUFFIXES[content_type]
    return name


def _read_meta(folder: Path) -> dict[str, Any]:
    """The sidecar of a cached URL, or {} when absent or unreadable."""
    try:
        meta = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _write_meta(folder: Path, url: str, name: str, headers: http.client.HTTPMessage) -> None:
    """Record the file name and validators of a download, atomically."""
    meta = {
        "url": url,
        "filename": name,
        "etag": headers.get("ETag"),
        "last_modified": headers.get("Last-Modified"),
    }
    fd, tmp = tempfile.mkstemp(prefix=".meta-", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(meta, out)
    os.replace(tmp, folder / META_NAME)


def _one_line(reason: object) -> str:
    """A reason squeezed onto one line."""
    return " ".join(str(reason).split())


# --- archives ---------------------------------------------------------------------------


@dataclass
class _Budget:
    """Running totals of an extraction, failing past its limits."""

    archive: str
    max_bytes: int
    max_files: int
    declared: int = 0
    written: int = 0
    files: int = 0

    def add_member(self, declared_size: int = 0) -> None:
        """Count one member and its declared size (checked before anything is written)."""
        self.files += 1
        self.declared += declared_size
        if self.files > self.max_files:
            raise SourceError(f"{self.archive}: more than {self.max_files} files; refused")
        if self.declared > self.max_bytes:
            raise self.too_big()

    def add_bytes(self, count: int) -> None:
        """Count bytes actually written (a lying header cannot get past the limit)."""
        self.written += count
        if self.written > self.max_bytes:
            raise self.too_big()

    def too_big(self) -> SourceError:
        """The error for an archive expanding past max_bytes."""
        return SourceError(
            f"{self.archive}: expands to more than {self.max_bytes} bytes (a zip bomb?); refused"
        )


def extract_archive(
    archive: Path, dest: Path, *, max_bytes: int, max_files: int = 20000, label: str | None = None
) -> Path:
    """Extract a .tar(.gz)/.tgz/.zip into dest, once per archive version; return the root.

    label names the archive in errors (its URL, say); the file name by default.
    """
    stamp = _stamp(archive)
    marker = dest / DONE_MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
        return _root(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    try:
        _extract_into(archive, tmp, _Budget(label or archive.name, max_bytes, max_files))
        (tmp / DONE_MARKER).write_text(stamp, encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _root(dest)


def _stamp(archive: Path) -> str:
    """What identifies this version of the archive file (a re-download changes it)."""
    try:
        info = archive.stat()
    except OSError as exc:
        raise SourceError(f"{archive}: cannot read: {exc.strerror}") from None
    return f"{info.st_size} {info.st_mtime_ns}"


def _root(dest: Path) -> Path:
    """The single top-level folder of an extraction, else dest itself."""
    entries = [path for path in dest.iterdir() if path.name != DONE_MARKER]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return dest


def _extract_into(archive: Path, root: Path, budget: _Budget) -> None:
    """Extract by archive type, turning read failures into SourceError."""
    name = archive.name.lower()
    try:
        if name.endswith(ZIP_SUFFIXES):
            _extract_zip(archive, root, budget)
        elif name.endswith(TAR_SUFFIXES):
            _extract_tar(archive, root, budget)
        else:
            raise SourceError(
                f"{budget.archive}: not a supported archive (.tar.gz, .tgz, .tar, .zip)"
            )
    except ARCHIVE_ERRORS as exc:
        raise SourceError(f"{budget.archive}: cannot extract: {_one_line(exc)}") from None


def _extract_zip(archive: Path, root: Path, budget: _Budget) -> None:
    """Check every zip member's name, type and size, then write them."""
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            _safe_parts(info.filename, budget.archive)
            budget.add_member(info.file_size)
        for info in members:
            _extract_zip_member(zf, info, root, budget)


def _extract_zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, budget: _Budget
) -> None:
    """Write one zip member; links are checked and not created."""
    parts = _safe_parts(info.filename, budget.archive)
    if not parts:
        return
    if stat.S_ISLNK(info.external_attr >> 16):
        target = zf.read(info)[:4096].decode("utf-8", "replace")
        _check_link(info.filename, parts[:-1], target, budget.archive)
    elif info.is_dir():
        root.joinpath(*parts).mkdir(parents=True, exist_ok=True)
    else:
        with zf.open(info) as stream:
            _write(stream, root.joinpath(*parts), budget)


def _extract_tar(archive: Path, root: Path, budget: _Budget) -> None:
    """Stream tar members, checking each before anything of it is written."""
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            parts = _safe_parts(member.name, budget.archive)
            budget.add_member(member.size if member.isfile() else 0)
            if not parts:
                continue
            if member.issym():
                _check_link(member.name, parts[:-1], member.linkname, budget.archive)
            elif member.islnk():
                _copy_hardlink(member, parts, root, budget)
            elif member.isdir():
                root.joinpath(*parts).mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                stream = tf.extractfile(member)
                if stream is not None:
                    _write(stream, root.joinpath(*parts), budget)


def _copy_hardlink(
    member: tarfile.TarInfo, parts: tuple[str, ...], root: Path, budget: _Budget
) -> None:
    """A hard link inside the archive becomes a copy of the file it names."""
    target = _safe_parts(member.linkname, budget.archive, what="hard link target")
    source = root.joinpath(*target)
    if target and source.is_file():
        with source.open("rb") as stream:
            _write(stream, root.joinpath(*parts), budget)


def _check_link(name: str, folder: tuple[str, ...], target: str, archive: str) -> None:
    """Refuse a symlink resolving outside the archive (links inside are skipped, not created)."""
    if target.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", target):
        raise SourceError(f"{archive}: refused member {name!r}: link to absolute path {target!r}")
    depth = len(folder)
    for part in target.replace("\\", "/").split("/"):
        depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
        if depth < 0:
            raise SourceError(
                f"{archive}: refused member {name!r}: link points outside ({target!r})"
            )


def _safe_parts(name: str, archive: str, *, what: str = "member") -> tuple[str, ...]:
    """The path parts of a member name, refusing absolute paths and `..`."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean):
        raise SourceError(f"{archive}: refused {what} {name!r}: absolute path")
    parts = tuple(part for part in clean.split("/") if part not in ("", "."))
    if ".." in parts:
        raise SourceError(f"{archive}: refused {what} {name!r}: '..' in path")
    return parts


def _write(stream: IO[bytes], target: Path, budget: _Budget) -> None:
    """Copy a member's bytes to target, counting them against the budget."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK_BYTES):
            budget.add_bytes(len(chunk))
            out.write(chunk)
