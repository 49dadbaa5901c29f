"""A package's module files from wheels, sdists and installs, and pip run only when needed."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ingest import sdist
from ingest.packages import installed_files, pypi_files
from rag.errors import SourceError
from rag.settings import load_settings
from rag.store import ChromaStore
from tests.commands import run
from tests.fake_packages import make_wheel
from tests.httpd import write_tar_gz

FILES = {
    "fakepkg/__init__.py": '"""Fake package."""\nfrom ._impl import Engine\n',
    "fakepkg/_impl.py": "class Engine:\n    '''Runs things.'''\n",
    "fakepkg/core.py": "def run():\n    '''Run.'''\n",
    "fakepkg/tests/test_core.py": "def test_it():\n    '''A test.'''\n",
    "fakepkg/_vendor/six.py": "def vendored():\n    '''Vendored.'''\n",
    "fakepkg/conftest.py": "def fixture():\n    '''Fixture.'''\n",
    "fakepkg/proto/table_pb2.py": '"""Generated protocol buffer code."""\n',
    "fakepkg/data.json": "{}",
}
EXPECTED = ["fakepkg/__init__.py", "fakepkg/_impl.py", "fakepkg/core.py"]


def make_sdist(folder: Path, files: dict[str, str]) -> Path:
    """An sdist with a src/ layout, setup.py, docs and top-level tests."""
    extra = {
        "setup.py": "def setup():\n    '''Setup.'''\n",
        "docs/conf.py": "def setup(app):\n    '''Sphinx.'''\n",
        "tests/test_top.py": "def test_top():\n    '''Test.'''\n",
        "PKG-INFO": "Name: fakepkg\n",
    }
    members = {f"src/{name}": text for name, text in files.items()} | extra
    return write_sdist(folder / "fakepkg-1.0.tar.gz", members)


def write_sdist(path: Path, members: dict[str, str]) -> Path:
    """A .tar.gz whose members sit under its top folder, named like the file (`name-1.0/`)."""
    top = path.name.removesuffix(".tar.gz")
    return write_tar_gz(path, {f"{top}/{name}": text for name, text in members.items()})


def no_pip(*args: Any, **kwargs: Any) -> Any:
    """Stand-in for subprocess.run that fails the test if pip is run."""
    raise AssertionError("pip must not run when the archive is cached")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache folder."""
    return tmp_path / "cache"


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_cached_archive_files_without_tests_vendored_or_generated(
    kind: str, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = cache / "pypi" / "fakepkg-1.0"
    folder.mkdir(parents=True)
    (make_wheel if kind == "wheel" else make_sdist)(folder, FILES)
    monkeypatch.setattr(subprocess, "run", no_pip)
    label, version, files = pypi_files("pypi:fakepkg==1.0", cache, timeout=5)
    assert (label, version) == ("pypi:fakepkg==1.0", "1.0")
    assert sorted(files) == EXPECTED
    assert files["fakepkg/core.py"] == FILES["fakepkg/core.py"].encode()
    assert "fakepkg" not in sys.modules


def test_big_modules_are_skipped(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = cache / "pypi" / "fakepkg-1.0"
    folder.mkdir(parents=True)
    big = "def huge():\n    '''Huge.'''\n" + "# padding\n" * 600_000
    make_wheel(folder, {"fakepkg/small.py": "def small():\n    pass\n", "fakepkg/big.py": big})
    monkeypatch.setattr(subprocess, "run", no_pip)
    assert list(pypi_files("pypi:fakepkg==1.0", cache, timeout=5)[2]) == ["fakepkg/small.py"]


def test_installed_distribution() -> None:
    label, version, files = installed_files("pkg:pypdf")
    assert (label, version) == ("pkg:pypdf", importlib.metadata.version("pypdf"))
    assert "pypdf/__init__.py" in files and "pypdf/_reader.py" in files
    assert not [path for path in files if "/tests/" in path or "_vendor" in path]


def test_package_not_installed() -> None:
    with pytest.raises(SourceError) as info:
        installed_files("lakesage-no-such-package-xyz")
    assert str(info.value) == (
        "pkg:lakesage-no-such-package-xyz: not installed; pip install lakesage-no-such-package-xyz "
        "or use pypi:lakesage-no-such-package-xyz==VERSION"
    )


@pytest.mark.parametrize(
    "spec",
    [
        "pypi:delta-spark",
        "pypi:delta-spark>=4.0",
        "pypi:",
        "pypi:--index-url=http://evil.example==1.0",
        "pypi:delta-spark==4.0; echo hi",
    ],
)
def test_bad_pypi_spec(spec: str, cache: Path) -> None:
    with pytest.raises(SourceError, match=r"expected pypi:NAME==VERSION"):
        pypi_files(spec, cache, timeout=5)


def serve(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    """A static file server for folder on loopback, already serving; its base URL."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_an_sdist_only_release_is_read_without_running_its_setup(tmp_path: Path) -> None:
    """`ingest pypi:` of a release with no wheel on a local index: its API entries are stored
    and its setup.py, which would leave a marker file, never runs."""
    marker = tmp_path / "setup-ran"
    index = tmp_path / "index"
    (index / "simple" / "lakesage-marker-pkg").mkdir(parents=True)
    (index / "packages").mkdir()
    sdist = write_sdist(
        index / "packages" / "lakesage_marker_pkg-1.0.tar.gz",
        {
            "setup.py": f"open({str(marker)!r}, 'w').write('ran')\n"
            "from setuptools import setup\nsetup(name='lakesage-marker-pkg', version='1.0')\n",
            "PKG-INFO": "Metadata-Version: 2.1\nName: lakesage-marker-pkg\nVersion: 1.0\n",
            "lakesage_marker_pkg/__init__.py": '"""Marker package."""\n\n\n'
            "def compact(table: str) -> None:\n    '''Compact the small files of a table.'''\n",
        },
    )
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    (index / "simple" / "lakesage-marker-pkg" / "index.html").write_text(
        f'<html><body><a href="../../packages/{sdist.name}#sha256={digest}">{sdist.name}</a>'
        "</body></html>"
    )
    server, url = serve(index)
    try:
        done = run(
            "ingest",
            "pypi:lakesage-marker-pkg==1.0",
            home=tmp_path / "home",
            cwd=tmp_path,
            PIP_INDEX_URL=f"{url}/simple/",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "the sdist's setup.py ran"
    store = ChromaStore(load_settings(home=tmp_path / "home"))
    symbols = {m.get("symbol") for _, _, metas, _ in store.scan() for m in metas}
    assert "lakesage_marker_pkg.compact" in symbols


def test_a_prefetched_wheel_folder_is_read_with_no_index(tmp_path: Path) -> None:
    """The README's air-gapped way: wheels fetched beforehand into a folder, then
    `PIP_NO_INDEX=1 PIP_FIND_LINKS=folder ingest pypi:...` reads them and reaches no index."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    code = "def compact(table: str) -> None:\n    '''Compact the small files of a table.'''\n"
    make_wheel(wheels, {"airgapped/__init__.py": code}, name="airgapped")
    done = run(
        "ingest",
        "pypi:airgapped==1.0",
        home=tmp_path / "home",
        cwd=tmp_path,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels),
        PIP_INDEX_URL="http://127.0.0.1:9/simple/",  # a closed port: any index request fails
        PIP_EXTRA_INDEX_URL="",
    )
    assert done.returncode == 0, done.stderr
    store = ChromaStore(load_settings(home=tmp_path / "home"))
    symbols = {m.get("symbol") for _, _, metas, _ in store.scan() for m in metas}
    assert "airgapped.compact" in symbols


def test_no_wheel_and_no_sdist_reports_both(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def failing(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        stderr = "Looking in indexes\nERROR: first\nERROR: No matching distribution found\n"
        return subprocess.CompletedProcess(command, 1, "", stderr)

    (tmp_path / "empty").mkdir()
    server, url = serve(tmp_path / "empty")  # an index that lists nothing: 404 for any project
    monkeypatch.setattr(subprocess, "run", failing)
    monkeypatch.setattr(sdist, "index_urls", lambda: [f"{url}/simple/"])
    try:
        with pytest.raises(SourceError) as info:
            pypi_files("pypi:fakepkg==1.0", cache, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert str(info.value) == (
        "pypi:fakepkg==1.0: pip download failed: No matching distribution found; "
        "no wheel, and no sdist of fakepkg 1.0 to read (no index lists one)"
    )
    assert len(calls) == 1, "pip never downloads an sdist (it would run its build backend)"
    assert calls[0][:4] == [sys.executable, "-m", "pip", "download"]
    assert calls[0][-3:] == ["--only-binary", ":all:", "fakepkg==1.0"]
    assert not list((cache / "pypi").iterdir())  # no temp folder left behind


def test_pip_config_names_the_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = (
        "global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'\n"
        "global.index-url='https://mirror.example/simple'\n"
        ":env:.index-url='http://127.0.0.1:3141/simple/'\n"
    )
    monkeypatch.setattr(
        subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 0, listed, "")
    )
    assert sdist.index_urls() == [
        "http://127.0.0.1:3141/simple/",
        "file:///opt/a/simple",
        "file:///opt/b/simple",
    ]
    monkeypatch.setattr(
        subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 0, "", "")
    )
    assert sdist.index_urls() == ["https://pypi.org/simple/"]


def test_pip_timeout(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(command: list[str], **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", slow)
    with pytest.raises(SourceError, match=r"^pypi:fakepkg==1.0: pip download timed out after 5 s$"):
        pypi_files("pypi:fakepkg==1.0", cache, timeout=5)


@pytest.mark.network
def test_real_pip_download_then_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, version, files = pypi_files("pypi:delta-spark==4.0.0", cache, timeout=120)
    assert version == "4.0.0"
    assert list((cache / "pypi" / "delta-spark-4.0.0").glob("*.whl"))
    assert b"class DeltaTable(" in files["delta/tables.py"]
    monkeypatch.setattr(subprocess, "run", no_pip)
    assert pypi_files("pypi:delta-spark==4.0.0", cache, timeout=5)[2] == files


@pytest.mark.network
def test_real_pip_failure(cache: Path) -> None:
    with pytest.raises(SourceError, match=r"pip download failed: .*lakesage-no-such-package-xyz"):
        pypi_files("pypi:lakesage-no-such-package-xyz==1.0", cache, timeout=120)


def test_an_sdist_that_does_not_match_its_hash_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    (index / "simple" / "fakepkg").mkdir(parents=True)
    make_sdist(index, FILES)
    (index / "simple" / "fakepkg" / "index.html").write_text(
        f'<a href="../../fakepkg-1.0.tar.gz#sha256={"0" * 64}">fakepkg-1.0.tar.gz</a>'
    )
    server, url = serve(index)
    monkeypatch.setattr(sdist, "index_urls", lambda: [f"{url}/simple/"])
    try:
        with pytest.raises(SourceError, match="does not match the index's sha256"):
            sdist.fetch_sdist("pypi:fakepkg==1.0", "fakepkg", "1.0", tmp_path / "got", 5)
    finally:
        server.shutdown()
        server.server_close()
    assert not list((tmp_path / "got").iterdir())


def test_pep691_pages_list_files_with_their_hashes() -> None:
    page = (
        '{"meta": {"api-version": "1.1"}, "name": "fakepkg", "files": ['
        '{"filename": "fakepkg-1.0-py3-none-any.whl", "url": "w", "hashes": {}},'
        '{"filename": "FakePkg-1.0.tar.gz", "url": "s", "hashes": {"sha256": "ab"}}]}'
    )
    found = [f for f in sdist._json_links(page) if sdist._is_sdist_of(f[1], "fakepkg", "1.0")]
    assert found == [("s", "FakePkg-1.0.tar.gz", "ab")]


def test_no_index_means_no_sdist_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    assert sdist.index_urls() == []
