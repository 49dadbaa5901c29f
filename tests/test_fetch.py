"""fetch_url against a real local HTTP server, and extract_archive against hostile archives."""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.fetch import extract_archive, fetch_url, is_archive
from rag.errors import SourceError
from tests.httpd import State, add_tar_file, add_tar_link, serving

TIMEOUT = 0.5
MAX_BYTES = 1_000_000


def docs_tar() -> bytes:
    """A .tar.gz with one top folder of docs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, text in (("docs/index.md", "# Home\n"), ("docs/guide/setup.md", "# Setup\n")):
            add_tar_file(tf, name, text.encode())
    return buffer.getvalue()


def docs_zip() -> bytes:
    """A .zip of docs with two top-level entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("readme.md", "# Readme\n")
        zf.writestr("api/tables.md", "# Tables\n")
    return buffer.getvalue()


@pytest.fixture
def state() -> State:
    """The server's content: a page, markdown and two archives."""
    return State(
        slow_seconds=TIMEOUT * 3,
        files={
            "/docs/page.html": ("text/html; charset=utf-8", b"<h1>Page</h1>"),
            "/docs/": ("text/html", b"<h1>Index</h1>"),
            "/noext": ("text/html", b"<p>no extension</p>"),
            "/guide.md": ("text/markdown", b"# Guide\n"),
            "/docs.tar.gz": ("application/gzip", docs_tar()),
            "/docs.zip": ("application/zip", docs_zip()),
        },
    )


@pytest.fixture
def base(state: State) -> Iterator[str]:
    """The base URL of a running server."""
    with serving(state) as url:
        yield url


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """An empty cache folder."""
    return tmp_path / "cache"


def fetch(url: str, cache: Path) -> Path:
    """fetch_url with the test limits."""
    return fetch_url(url, cache, timeout=TIMEOUT, max_bytes=MAX_BYTES)


def leftovers(cache: Path) -> list[str]:
    """Files left anywhere in the cache."""
    return [p.name for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


def test_page_downloaded_once_then_cached(base: str, state: State, cache: Path) -> None:
    first = fetch(f"{base}/docs/page.html", cache)
    assert first.name == "page.html"
    assert first.read_bytes() == b"<h1>Page</h1>"
    assert first.is_relative_to(cache / "urls")
    assert fetch(f"{base}/docs/page.html", cache) == first
    assert state.hits["/docs/page.html"] == 1  # no validators: the cached copy is reused


def test_markdown_keeps_its_extension(base: str, cache: Path) -> None:
    path = fetch(f"{base}/guide.md", cache)
    assert (path.name, path.read_text()) == ("guide.md", "# Guide\n")


@pytest.mark.parametrize(
    ("path", "name"),
    [("/docs/", "index.html"), ("/noext", "noext.html"), ("/docs/?x=1", "index.html")],
)
def test_file_names_for_pages(base: str, cache: Path, path: str, name: str) -> None:
    assert fetch(base + path, cache).name == name


def test_one_redirect_is_followed(base: str, cache: Path) -> None:
    path = fetch(f"{base}/hop", cache)
    assert (path.name, path.read_text()) == ("hop.md", "# Guide\n")


def test_redirect_loop_fails_fast(base: str, cache: Path) -> None:
    start = time.monotonic()
    with pytest.raises(SourceError, match="too many redirects"):
        fetch(f"{base}/loop", cache)
    assert time.monotonic() - start < 5


def test_redirect_to_file_scheme_is_refused(base: str, cache: Path) -> None:
    with pytest.raises(SourceError, match=r"refused: redirected to file:///etc/passwd"):
        fetch(f"{base}/to-file", cache)


def test_slow_server_times_out(base: str, cache: Path) -> None:
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"/slow: timed out after 0.5 s"):
        fetch(f"{base}/slow", cache)
    assert time.monotonic() - start < TIMEOUT * 3
    assert leftovers(cache) == []


def test_trickling_server_meets_the_overall_deadline(base: str, cache: Path) -> None:
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"/trickle: download took longer than 0.5 s"):
        fetch_url(f"{base}/trickle", cache, timeout=TIMEOUT, max_bytes=MAX_BYTES, max_seconds=0.5)
    assert time.monotonic() - start < TIMEOUT * 3
    assert leftovers(cache) == []


@pytest.mark.parametrize("path", ["/huge-declared", "/huge-streamed"])
def test_too_large_download_is_aborted(base: str, cache: Path, path: str) -> None:
    with pytest.raises(SourceError, match=f"{path}: larger than {MAX_BYTES} bytes"):
        fetch(base + path, cache)
    assert leftovers(cache) == []


def test_http_error_is_one_line(base: str, cache: Path) -> None:
    with pytest.raises(SourceError) as info:
        fetch(f"{base}/missing.html", cache)
    assert str(info.value) == f"{base}/missing.html: HTTP 404 Not Found"


def test_etag_revalidation(base: str, state: State, cache: Path) -> None:
    path = fetch(f"{base}/etag", cache)
    assert path.read_text() == "version 1"
    assert fetch(f"{base}/etag", cache) == path
    assert (state.hits["/etag"], state.not_modified["/etag"]) == (2, 1)
    state.etag_version = 2
    assert fetch(f"{base}/etag", cache).read_text() == "version 2"
    assert state.not_modified["/etag"] == 1


def test_last_modified_revalidation(base: str, state: State, cache: Path) -> None:
    path = fetch(f"{base}/lastmod", cache)
    assert fetch(f"{base}/lastmod", cache) == path
    assert (state.hits["/lastmod"], state.not_modified["/lastmod"]) == (2, 1)
    assert path.read_text() == "version 1"


def test_cached_copy_used_when_server_is_gone(cache: Path) -> None:
    with serving(State()) as url:
        path = fetch(f"{url}/etag", cache)
    assert fetch(f"{url}/etag", cache) == path
    assert path.read_text() == "version 1"


def closed_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_host_is_one_line(cache: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/docs.html"
    with pytest.raises(SourceError, match=r"unreachable: .*refused") as info:
        fetch(url, cache)
    assert str(info.value).startswith(f"{url}: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/docs.tar.gz", "docs"])
def test_other_schemes_are_refused(cache: Path, url: str) -> None:
    with pytest.raises(SourceError, match="refused: only http"):
        fetch(url, cache)


def test_tar_archive_fetched_and_extracted(base: str, tmp_path: Path, cache: Path) -> None:
    archive = fetch(f"{base}/docs.tar.gz", cache)
    assert archive.name == "docs.tar.gz" and is_archive(archive.name)
    root = extract_archive(archive, archive.parent / "extracted", max_bytes=MAX_BYTES)
    assert root.name == "docs"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.md")) == [
        "guide/setup.md",
        "index.md",
    ]


def test_zip_archive_root_is_dest_with_several_top_entries(base: str, cache: Path) -> None:
    archive = fetch(f"{base}/docs.zip", cache)
    dest = archive.parent / "extracted"
    root = extract_archive(archive, dest, max_bytes=MAX_BYTES)
    assert root == dest
    assert (root / "api" / "tables.md").read_text() == "# Tables\n"


def test_extraction_is_reused_until_the_archive_changes(tmp_path: Path) -> None:
    archive = tmp_path / "docs.tar.gz"
    archive.write_bytes(docs_tar())
    root = extract_archive(archive, tmp_path / "out", max_bytes=MAX_BYTES)
    (root / "index.md").write_text("edited")
    assert extract_archive(archive, tmp_path / "out", max_bytes=MAX_BYTES) == root
    assert (root / "index.md").read_text() == "edited"
    os.utime(archive, ns=(1, 1))  # as a re-download would
    assert extract_archive(archive, tmp_path / "out", max_bytes=MAX_BYTES) == root
    assert (root / "index.md").read_text() == "# Home\n"


def test_symlink_inside_is_skipped(tmp_path: Path) -> None:
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tf:
        add_tar_file(tf, "docs/v1/index.md", b"# v1\n")
        add_tar_link(tf, "docs/latest", "v1", tarfile.SYMTYPE)
        add_tar_link(tf, "docs/copy.md", "docs/v1/index.md", tarfile.LNKTYPE)
    root = extract_archive(archive, tmp_path / "out", max_bytes=MAX_BYTES)
    assert not (root / "latest").exists()
    assert (root / "copy.md").read_text() == "# v1\n"


def tar_with(build: Callable[[tarfile.TarFile], None]) -> Callable[[Path], Path]:
    """A maker of a .tar.gz built by build."""

    def make(folder: Path) -> Path:
        path = folder / "evil.tar.gz"
        with tarfile.open(path, "w:gz") as tf:
            build(tf)
        return path

    return make


def zip_with(build: Callable[[zipfile.ZipFile], None]) -> Callable[[Path], Path]:
    """A maker of a .zip built by build."""

    def make(folder: Path) -> Path:
        path = folder / "evil.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            build(zf)
        return path

    return make


def zip_symlink(zf: zipfile.ZipFile) -> None:
    """A zip entry that is a symlink out of the archive."""
    info = zipfile.ZipInfo("docs/passwd")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, "../../../etc/passwd")


def many_files(tf: tarfile.TarFile) -> None:
    """More members than the test allows."""
    for i in range(12):
        add_tar_file(tf, f"docs/{i}.md", b"x")


EVIL = {
    "dotdot-tar": (tar_with(lambda tf: add_tar_file(tf, "../evil.txt", b"x")), "'..' in path"),
    "absolute-tar": (tar_with(lambda tf: add_tar_file(tf, "/tmp/evil.txt", b"x")), "absolute"),
    "symlink-out": (
        tar_with(lambda tf: add_tar_link(tf, "docs/up", "../../..", tarfile.SYMTYPE)),
        "link points outside",
    ),
    "symlink-abs": (
        tar_with(lambda tf: add_tar_link(tf, "docs/pw", "/etc/passwd", tarfile.SYMTYPE)),
        "link to absolute path",
    ),
    "hardlink-out": (
        tar_with(lambda tf: add_tar_link(tf, "docs/pw", "../../etc/passwd", tarfile.LNKTYPE)),
        "'..' in path",
    ),
    "tar-bomb": (
        tar_with(lambda tf: add_tar_file(tf, "docs/zeros", bytes(5_000_000))),
        "expands to more than",
    ),
    "too-many": (tar_with(many_files), "more than 10 files"),
    "dotdot-zip": (zip_with(lambda zf: zf.writestr("../evil.txt", "x")), "'..' in path"),
    "absolute-zip": (zip_with(lambda zf: zf.writestr("/tmp/evil.txt", "x")), "absolute"),
    "symlink-zip": (zip_with(zip_symlink), "link points outside"),
    "zip-bomb": (
        zip_with(lambda zf: zf.writestr("docs/zeros", bytes(50_000_000))),
        "expands to more than 1000000 bytes",
    ),
}


@pytest.mark.parametrize("case", list(EVIL))
def test_hostile_archives_are_refused(tmp_path: Path, case: str) -> None:
    make, reason = EVIL[case]
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    archive = make(work)
    dest = work / "out"
    with pytest.raises(SourceError, match=rf"^{archive.name}: .*{reason}"):
        extract_archive(archive, dest, max_bytes=MAX_BYTES, max_files=10)
    assert not dest.exists()
    assert sorted(p.name for p in work.iterdir()) == [archive.name]  # no temp folder left
    assert not list(tmp_path.rglob("evil.txt"))


def test_corrupt_archive_is_a_source_error(tmp_path: Path) -> None:
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"not gzip at all")
    with pytest.raises(SourceError, match=r"^broken.tar.gz: cannot extract"):
        extract_archive(archive, tmp_path / "out", max_bytes=MAX_BYTES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("docs.tar.gz", True),
        ("DOCS.TGZ", True),
        ("docs.tar", True),
        ("docs.zip", True),
        ("page.html", False),
        ("guide.md", False),
        ("notes.gz", False),
    ],
)
def test_is_archive(name: str, expected: bool) -> None:
    assert is_archive(name) is expected
