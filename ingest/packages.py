"""A Python package's module files, from an install or a PyPI archive, read but never run."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from ingest.sdist import canonical, fetch_sdist
from rag.errors import SourceError

MAX_MODULE_BYTES = 5_000_000
SKIP_DIRS = frozenset({"tests", "test", "_vendor", "__pycache__"})
SKIP_FILES = frozenset({"conftest.py"})
GENERATED_SUFFIXES = ("_pb2.py", "_pb2_grpc.py")  # protobuf output: descriptors, no docs
SKIP_DIR_SUFFIXES = (".dist-info", ".egg-info", ".data")
SDIST_SCRIPTS = frozenset(
    {"setup.py", "conftest.py", "noxfile.py", "fabfile.py", "tasks.py", "versioneer.py"}
)
WHEEL_SUFFIXES = (".whl",)
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")

Files = dict[str, bytes]  # package-relative module path -> source bytes

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_SPEC = re.compile(rf"(?P<name>{_NAME})==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)")


def installed_files(name: str) -> tuple[str, str, Files]:
    """The label, version and module files of an installed distribution (`pkg:NAME`)."""
    name = name.removeprefix("pkg:")
    label = f"pkg:{name}"
    missing = SourceError(f"{label}: not installed; pip install {name} or use pypi:{name}==VERSION")
    if not re.fullmatch(_NAME, name):
        raise missing
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise missing from None
    return label, dist.version, _installed_files(dist)


def pypi_files(spec: str, cache_dir: Path, *, timeout: float) -> tuple[str, str, Files]:
    """The label, version and module files of `pypi:NAME==VERSION`, downloaded once with pip."""
    name, version = _parse_spec(spec)
    label = f"pypi:{name}=={version}"
    folder = cache_dir / "pypi" / f"{canonical(name)}-{version}"
    archive = _cached_archive(folder) or _download(label, name, version, folder, timeout)
    return label, version, _read_archive(label, archive)


def _candidate(path: PurePosixPath) -> bool:
    """Whether a package file is a module to consider (not a test, vendored copy or metadata)."""
    if path.suffix != ".py" or path.name in SKIP_FILES or path.name.endswith(GENERATED_SUFFIXES):
        return False
    if path.is_absolute() or ".." in path.parts:
        return False
    folders = path.parts[:-1]
    return not any(part in SKIP_DIRS or part.endswith(SKIP_DIR_SUFFIXES) for part in folders)


# --- reading files ----------------------------------------------------------------------


def _installed_files(dist: importlib.metadata.Distribution) -> Files:
    """The candidate module files of an installed distribution, by package-relative path."""
    files: Files = {}
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


def _read_archive(label: str, archive: Path) -> Files:
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


def _read_zip(archive: Path, *, sdist: bool) -> Files:
    """Module files of a zip (a wheel, or an old zipped sdist)."""
    files: Files = {}
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = _member_path(info.filename, sdist=sdist)
            if not info.is_dir() and info.file_size <= MAX_MODULE_BYTES and path:
                files[str(path)] = zf.read(info)
    return files


def _read_tar(archive: Path) -> Files:
    """Module files of a tarred sdist, read in stream order."""
    files: Files = {}
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


def _sdist_packages(files: Files) -> Files:
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
    """Download the wheel with pip, else the sdist as a plain file, into folder. Never
    `pip download` an sdist: pip runs its build backend (setup.py) to read its metadata."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=folder.parent))
    try:
        result = _pip(label, name, version, tmp, ["--only-binary", ":all:"], timeout)
        downloaded = _cached_archive(tmp)
        if result.returncode == 0 and downloaded is not None:
            folder.mkdir(exist_ok=True)
            return downloaded.replace(folder / downloaded.name)
        try:
            return fetch_sdist(label, name, version, folder, timeout)
        except SourceError as exc:
            reason = str(exc).removeprefix(f"{label}: ")
            raise SourceError(
                f"{label}: pip download failed: {_pip_error(result)}; {reason}"
            ) from None
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
