"""The real `ingest` command on a folder and URLs full of broken and hostile inputs."""

from __future__ import annotations

import bz2
import gzip
import io
import os
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.ledger import Ledger
from rag.settings import load_settings
from rag.store import ChromaStore
from tests.commands import run
from tests.documents import make_pdf
from tests.httpd import State, add_tar_file, serving

# Small limits so every hostile download or expansion trips quickly.
LIMITS = {
    "LAKESAGE_FETCH_TIMEOUT": "0.5",
    "LAKESAGE_MAX_DOWNLOAD_SECONDS": "1",
    "LAKESAGE_MAX_DOWNLOAD_BYTES": "1000000",
    "LAKESAGE_MAX_EXTRACT_BYTES": "2000000",
    "LAKESAGE_MAX_ARCHIVE_FILES": "100",
    "LAKESAGE_MAX_FILE_BYTES": "400000",
}
SECRET = "zebracorn"  # only in the file outside the source folder
DEPTH = 200
LONG_NAME = "l" * 240 + ".md"
PLAIN = {"intro.md", "guide/setup.rst"}  # the good files that are not hostile in any way


@dataclass(frozen=True)
class Bad:
    """An input that must be reported on exactly one line naming it and its reason."""

    name: str
    reason: str


def page(word: str) -> str:
    """A small good Markdown page holding one marker word."""
    return f"# Page {word}\n\nThe marker word {word} is in this page about Delta tables.\n"


def encrypted_pdf() -> bytes:
    """A PDF that needs a password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Secret text"]]))))
    writer.encrypt("s3cret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def build_folder(tmp_path: Path) -> tuple[Path, dict[str, str], list[Bad], list[str]]:
    """The source folder: (root, good sources and their marker words, bad inputs, quiet ones)."""
    root = tmp_path / "src"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(page(SECRET))

    good = {
        "intro.md": "alphaword",
        "guide/setup.rst": "bravoword",
        "with space.md": "charlieword",
        "naïve-日本語.md": "deltaword",
        "new\nline.md": "echoword",
        "-leading-dash.md": "foxtrotword",
        LONG_NAME: "golfword",
        "/".join(["d"] * DEPTH) + "/deep.md": "hotelword",
        "zipped/notes.md.gz": "indiaword",
        "zipped/notes.txt.bz2": "julietword",
        "cafe-latin1.md": "kiloword",
        "inside-link.md": "alphaword",  # a symlink to intro.md, inside the root: read
    }
    for rel, word in good.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".gz"):
            path.write_bytes(gzip.compress(page(word).encode()))
        elif rel.endswith(".bz2"):
            path.write_bytes(bz2.compress(page(word).encode()))
        elif rel == "cafe-latin1.md":
            path.write_bytes((page(word) + "Café crème.\n").encode("latin-1"))
        elif rel == "inside-link.md":
            path.symlink_to("intro.md")
        elif rel.endswith(".rst"):
            path.write_text(f"Setup\n=====\n\nInstall it, {word}.\n")
        else:
            path.write_text(page(word))
    # Enormous single line and thousands of headings: stored, and quickly.
    (root / "one-line.md").write_text("# One line\n\n" + "x" * 100_000 + " limaword\n")
    (root / "headings.md").write_text(
        "".join(f"{'#' * (i % 6 + 1)} mikeword {i}\n\n" for i in range(1200))
    )
    good["one-line.md"] = "limaword"
    good["headings.md"] = "mikeword"

    files: dict[str, bytes] = {
        "empty.md": b"",
        "blank.txt": b"  \n\n\t\n",
        "image.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
        "utf16-no-bom.txt": "Plain text in UTF-16 without a BOM.\n".encode("utf-16-le"),
        "shift-jis.md": "日本語のテキストです。".encode("shift_jis") * 10,
        "nul.txt": b"Some text with a NUL \x00 byte in it.\n",
        "fake.pdf": b"This is plain text, not a PDF.",
        "truncated.pdf": make_pdf([["Fine text here."] * 20])[:300],
        "locked.pdf": encrypted_pdf(),
        "broken.ipynb": b"{not json",
        "list.ipynb": b"[1, 2, 3]",
        "cells.ipynb": b'{"cells": [1, 2]}',
        "too-big.md": b"# Big\n\n" + b"word " * 100_000,
        "bomb.md.gz": gzip.compress(bytes(5_000_000)),
        "corrupt.md.gz": b"this is not gzip data",
        "bundle.tar.gz": tar_bytes({"docs/a.md": page("novemberword").encode()}),
        "bad\nname.md": b"",
        "-rf.md": b"",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    bad = [
        Bad("empty.md", "empty file"),
        Bad("blank.txt", "no text (only whitespace)"),
        Bad("image.md", "binary content"),
        Bad("utf16-no-bom.txt", "binary content (NUL bytes)"),
        Bad("shift-jis.md", "not UTF-8 text"),
        Bad("nul.txt", "binary content (NUL bytes)"),
        Bad("fake.pdf", "not a PDF file"),
        Bad("truncated.pdf", "corrupt PDF"),
        Bad("locked.pdf", "encrypted PDF"),
        Bad("broken.ipynb", "malformed notebook JSON"),
        Bad("list.ipynb", "not a Jupyter notebook"),
        Bad("cells.ipynb", "cell 1 is not an object"),
        Bad("too-big.md", "over the 400000-byte limit"),
        Bad("bomb.md.gz", "expands to more than the 400000-byte file limit"),
        Bad("corrupt.md.gz", "cannot decompress"),
        Bad("bundle.tar.gz", "an archive inside a folder is not unpacked"),
        Bad("bad\\nname.md", "empty file"),
        Bad("-rf.md", "empty file"),
    ]

    os.mkfifo(root / "pipe.md")  # reading it would block forever
    os.mkfifo(root / "pipe.py")  # nor may sniffing it for a notebook's first line
    (root / "loop-a.md").symlink_to("loop-b.md")
    (root / "loop-b.md").symlink_to("loop-a.md")
    (root / "dangling.md").symlink_to("nowhere.md")
    (root / "outside.md").symlink_to(outside / "secret.md")
    (root / "outside-dir").symlink_to(outside)
    (root / os.fsdecode(b"latin1-\xe9.md")).write_text(page("oscarword"))
    bad += [
        Bad("pipe.md", "not a regular file"),
        Bad("loop-a.md", "broken symlink"),
        Bad("loop-b.md", "broken symlink"),
        Bad("dangling.md", "broken symlink"),
        Bad("outside.md", "symlink to a path outside the source folder; not followed"),
        Bad("outside-dir", "symlink to a path outside the source folder; not followed"),
        Bad("latin1-\\xe9.md", "file name is not valid UTF-8; rename it"),
    ]
    # Folder links back up the tree must be neither followed nor reported.
    (root / "guide" / "up").symlink_to("..")
    (root / "guide" / "self").symlink_to(".")
    quiet = ["guide/up", "guide/self", "photo.png", ".hidden.md", "pipe.py", "script.py"]
    (root / "script.py").write_text("import os\n")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / ".hidden.md").write_text(page("papaword"))
    return root, good, bad, quiet


def tar_bytes(members: dict[str, bytes]) -> bytes:
    """A .tar.gz of the given members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            add_tar_file(tf, name, data)
    return buffer.getvalue()


def zip_bomb() -> bytes:
    """A small zip expanding to 50 MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("docs/zeros.md", bytes(50_000_000))
    return buffer.getvalue()


@pytest.fixture
def hostile_server() -> Iterator[str]:
    """A loopback server for the hostile URLs; yields its base URL."""
    state = State(
        slow_seconds=3.0,
        huge_bytes=2 * 1024**3,  # two gigabytes, cut short by the client
        files={
            "/guide.md": ("text/markdown", page("quebecword").encode()),
            "/logo.md": ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(2048)),
            "/report.pdf": ("text/html", b"<html><body>Please log in</body></html>"),
            "/evil.tar.gz": ("application/gzip", tar_bytes({"../evil.md": b"# Evil\n"})),
            "/bomb.zip": ("application/zip", zip_bomb()),
        },
    )
    with serving(state) as url:
        yield url


def run_ingest(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script with small limits and no way off loopback."""
    return run("ingest", *args, home=home, cwd=cwd, timeout=300, **LIMITS)


def stored(home: Path) -> tuple[set[str], str]:
    """Sources and all chunk text as stored on disk."""
    store = ChromaStore(load_settings(home=home))
    sources: set[str] = set()
    texts: list[str] = []
    for _, docs, metas, _ in store.scan():
        sources.update(m["source"] for m in metas)
        texts.extend(docs)
    return sources, "\n".join(texts)


def test_hostile_corpus_is_reported_line_by_line_and_good_files_stored(
    tmp_path: Path, hostile_server: str
) -> None:
    root, good, bad, quiet = build_folder(tmp_path)
    base = hostile_server
    bad_urls = [
        Bad(f"{base}/slow", "timed out after 0.5 s"),
        Bad(f"{base}/trickle", "download took longer than 1 s"),
        Bad(f"{base}/loop", "too many redirects"),
        Bad(f"{base}/to-file", "refused: redirected to file:///etc/passwd"),
        Bad(f"{base}/huge-declared", "larger than 1000000 bytes"),
        Bad(f"{base}/huge-streamed", "larger than 1000000 bytes"),
        Bad(f"{base}/logo.md", "binary content"),
        Bad(f"{base}/report.pdf", "not a PDF file"),
        Bad(f"{base}/evil.tar.gz", "refused member '../evil.md': '..' in path"),
        Bad(f"{base}/bomb.zip", "expands to more than 2000000 bytes"),
        Bad(f"{base}/missing.html", "HTTP 404"),
        Bad("file:///etc/passwd", "refused: only http(s) URLs are fetched"),
        Bad("ftp://example.com/docs.tar.gz", "refused: only http(s) URLs are fetched"),
    ]
    home = tmp_path / "home"
    urls = [b.name for b in bad_urls]
    start = time.monotonic()
    done = run_ingest(str(root), f"{base}/guide.md", *urls, home=home, cwd=tmp_path)
    seconds = time.monotonic() - start
    tried = len(bad) + len(bad_urls) + len(quiet) + len(set(good) - PLAIN)
    print(f"hostile inputs tried: {tried} (reported: {len(bad) + len(bad_urls)})")
    print(f"ingest took {seconds:.1f} s")

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("indexed "), done.stdout  # the run finished with its summary
    skipped = [line for line in done.stderr.splitlines() if line.startswith("skipped: ")]
    for item in [*bad, *bad_urls]:
        named = [line for line in skipped if line.startswith(f"skipped: {item.name}: ")]
        assert len(named) == 1, (item, named)
        assert item.reason in named[0], (item, named[0])
    assert len(skipped) == len(bad) + len(bad_urls), skipped  # nothing else failed
    for name in quiet:
        assert not any(name in line for line in skipped), name

    sources, text = stored(home)
    assert set(good) | {"guide.md"} == sources
    for word in [*good.values(), "quebecword"]:
        assert word in text, word
    for word in (SECRET, "novemberword", "oscarword", "papaword", "Evil"):
        assert word not in text, word
    assert not list(tmp_path.rglob("evil.md"))
    ledger = Ledger(home / "ledger.sqlite")
    try:
        assert {name for _, name in ledger.files()} == sources
    finally:
        ledger.close()

    again = run_ingest(str(root), home=home, cwd=tmp_path)
    assert again.returncode == 1
    assert f"{len(good)} unchanged" in again.stdout
