"""The LLM engines (LlamaIndex integrations) against scripted HTTP servers on 127.0.0.1: the
error paths a real server will not produce on demand, each turned into a one-line LLMError."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rag.errors import LLMError, MissingExtraError, UnknownNameError
from rag.llm import ChatClient, make_chat_client
from rag.settings import Settings
from tests.llm_servers import (
    KEY,
    MODEL,
    WORDS,
    Handler,
    Route,
    Server,
    closed_port,
    delta,
    ollama_route,
    openai_route,
    sse,
)

MESSAGES = [
    {"role": "system", "content": "Answer from the passages."},
    {"role": "user", "content": "Does Delta support time travel?"},
]


@pytest.fixture
def serve() -> Iterator[Callable[[Route], Server]]:
    """Start real servers in threads; stop them and release stalled handlers afterwards."""
    servers: list[Server] = []

    def start(route: Route) -> Server:
        server = Server(route)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def openai(
    server: Server, key: str | None = KEY, model: str = MODEL, timeout: float = 5
) -> ChatClient:
    """The openai engine pointed at the scripted server."""
    settings = Settings(
        engine="openai",
        llm_base_url=f"{server.url}/v1",
        llm_model=model,
        llm_api_key=key,
        llm_timeout=timeout,
    )
    return make_chat_client(settings)


def ollama(url: str, model: str = MODEL, timeout: float = 5) -> ChatClient:
    """The ollama engine pointed at `url`."""
    return make_chat_client(
        Settings(engine="ollama", llm_base_url=url, llm_model=model, llm_timeout=timeout)
    )


def databricks(server: Server, token: str = KEY) -> ChatClient:
    """The databricks engine with the scripted server as its workspace."""
    settings = Settings(
        engine="databricks", databricks_host=server.url, databricks_token=token, llm_model=MODEL
    )
    return make_chat_client(settings)


def stall(h: Handler, body: dict[str, Any]) -> None:
    """Answer nothing until the test is over."""
    h.server.release.wait(10)


def raised(stream: Iterator[str]) -> str:
    """The one-line LLMError message a stream ends in."""
    with pytest.raises(LLMError) as caught:
        list(stream)
    message = str(caught.value)
    assert "\n" not in message and KEY not in message
    return message


# OpenAI-compatible


def test_openai_streams_deltas_in_order(serve: Callable[[Route], Server]) -> None:
    server = serve(openai_route())
    parts = list(openai(server).stream(MESSAGES))
    assert parts == WORDS
    [seen] = server.seen
    assert seen.path == "/v1/chat/completions"
    assert seen.body["model"] == MODEL and seen.body["messages"] == MESSAGES
    assert seen.body["stream"] is True and seen.body["temperature"] == 0
    assert seen.headers["Authorization"] == f"Bearer {KEY}"


def test_openai_yields_each_delta_as_it_arrives(serve: Callable[[Route], Server]) -> None:
    gate = threading.Event()

    def route(h: Handler, body: dict[str, Any]) -> None:
        h.start("text/event-stream")
        h.chunk(delta("first "))
        if gate.wait(5):  # a client that buffers the whole reply never opens the gate
            h.chunk(delta("second"))
            h.chunk(b"data: [DONE]\n\n")
        h.finish_chunks()

    stream = openai(serve(route)).stream(MESSAGES)
    assert next(stream) == "first "
    gate.set()
    assert list(stream) == ["second"]


def test_openai_without_a_key_never_sends_the_environments(
    serve: Callable[[Route], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server = serve(openai_route(key=None))
    assert list(openai(server, key=None).stream(MESSAGES)) == WORDS
    assert "Authorization" not in server.seen[0].headers


def test_openai_wrong_key_is_refused_without_echoing_it(serve: Callable[[Route], Server]) -> None:
    server = serve(openai_route(key="sk-the-right-one"))
    message = raised(openai(server).stream(MESSAGES))
    assert message == "the LLM endpoint refused the API key (HTTP 401); set LAKESAGE_LLM_API_KEY"


def test_openai_unknown_model(serve: Callable[[Route], Server]) -> None:
    server = serve(openai_route())
    message = raised(openai(server, model="no-such-model").stream(MESSAGES))
    assert message == f"model 'no-such-model' not found at {server.url}/v1; set LAKESAGE_LLM_MODEL"


def test_wrong_path_points_at_the_base_url(serve: Callable[[Route], Server]) -> None:
    server = serve(lambda h, _: h.send_json(404, {"detail": "Not Found"}))
    message = raised(openai(server).stream(MESSAGES))
    assert "HTTP 404: Not Found" in message and "LAKESAGE_LLM_BASE_URL" in message


def test_other_http_errors_show_status_and_a_scrubbed_snippet(
    serve: Callable[[Route], Server],
) -> None:
    text = f"upstream exploded while checking {KEY} " + "x" * 500
    server = serve(lambda h, _: h.send_json(500, {"error": {"message": text}}))
    message = raised(openai(server).stream(MESSAGES))
    assert f"{server.url}/v1 answered HTTP 500: upstream exploded" in message
    assert "***" in message and len(message) < 400
    assert len(server.seen) == 1, "no retries: the reader is waiting"


def test_error_event_mid_stream(serve: Callable[[Route], Server]) -> None:
    def route(h: Handler, body: dict[str, Any]) -> None:
        h.start("text/event-stream")
        h.chunk(delta("partial "))
        h.chunk(sse({"error": {"message": "context length exceeded"}}))
        h.finish_chunks()

    stream = openai(serve(route)).stream(MESSAGES)
    assert next(stream) == "partial "
    assert raised(stream).endswith("reported an error: context length exceeded")


def test_a_reply_with_no_text_is_an_error(serve: Callable[[Route], Server]) -> None:
    server = serve(lambda h, _: h.send_json(200, b"<html>a login page</html>", "text/html"))
    message = raised(openai(server).stream(MESSAGES))
    assert (
        message == f"the LLM endpoint at {server.url}/v1 sent no text; check LAKESAGE_LLM_BASE_URL"
    )


def test_endpoint_down() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    settings = Settings(engine="openai", llm_base_url=url, llm_model=MODEL, llm_api_key=KEY)
    message = raised(make_chat_client(settings).stream(MESSAGES))
    assert message.startswith(f"cannot reach the LLM endpoint at {url} (")
    assert message.endswith("is the server running? set LAKESAGE_LLM_BASE_URL")


def test_stalled_server_times_out(serve: Callable[[Route], Server]) -> None:
    server = serve(stall)
    started = time.monotonic()
    message = raised(openai(server, timeout=0.5).stream(MESSAGES))
    assert time.monotonic() - started < 3
    assert "sent nothing for 0.5 s (timed out)" in message and "LAKESAGE_LLM_TIMEOUT" in message


def test_server_stalling_mid_stream_times_out(serve: Callable[[Route], Server]) -> None:
    def route(h: Handler, body: dict[str, Any]) -> None:
        h.start("text/event-stream")
        h.chunk(delta("first "))
        h.server.release.wait(10)

    stream = openai(serve(route), timeout=0.5).stream(MESSAGES)
    assert next(stream) == "first "
    assert "timed out" in raised(stream)


def test_server_hanging_up_mid_stream(serve: Callable[[Route], Server]) -> None:
    def route(h: Handler, body: dict[str, Any]) -> None:
        h.start("text/event-stream")
        h.chunk(delta("first "))
        h.wfile.write(b"ff\r\ndata: {")  # a chunk cut short, then the connection closes
        h.close_connection = True

    stream = openai(serve(route)).stream(MESSAGES)
    assert next(stream) == "first "
    assert "broke off its reply" in raised(stream)


def _dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every proxy variable names a port nothing listens on, and NO_PROXY is unset."""
    port = closed_port()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def test_loopback_ignores_proxy_settings(
    serve: Callable[[Route], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    _dead_proxy(monkeypatch)
    assert list(openai(serve(openai_route())).stream(MESSAGES)) == WORDS
    assert list(ollama(serve(ollama_route()).url).stream(MESSAGES)) == WORDS
    assert list(databricks(serve(openai_route())).stream(MESSAGES)) == WORDS


def test_remote_hosts_go_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    _dead_proxy(monkeypatch)
    settings = Settings(engine="openai", llm_base_url="http://llm.example/v1", llm_model=MODEL)
    message = raised(make_chat_client(settings).stream(MESSAGES))
    assert message.startswith("cannot reach the LLM endpoint at http://llm.example/v1")
    assert "Connection refused" in message, "the request went to the (dead) proxy"


def test_key_never_in_repr_or_logs(
    serve: Callable[[Route], Server], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = serve(openai_route(key="sk-the-right-one"))
    for client in (openai(server), databricks(server)):
        assert KEY not in repr(client) and MODEL in repr(client)
        raised(client.stream(MESSAGES))
    assert caplog.records, "the SDKs' debug logs were captured"
    assert KEY not in caplog.text


# Databricks


def test_databricks_serving_endpoint_with_the_configured_token(
    serve: Callable[[Route], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-from-the-environment")
    server = serve(openai_route())
    assert list(databricks(server).stream(MESSAGES)) == WORDS
    [seen] = server.seen
    assert seen.path == "/serving-endpoints/chat/completions"
    assert seen.headers["Authorization"] == f"Bearer {KEY}"


def test_databricks_refused_token_names_its_setting(serve: Callable[[Route], Server]) -> None:
    server = serve(openai_route(key="dapi-right"))
    assert raised(databricks(server).stream(MESSAGES)) == (
        "the LLM endpoint refused the API key (HTTP 401); set LAKESAGE_DATABRICKS_TOKEN"
    )


# Ollama


def test_ollama_streams(serve: Callable[[Route], Server], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", KEY)
    server = serve(ollama_route())
    assert list(ollama(server.url).stream(MESSAGES)) == WORDS
    [seen] = server.seen
    assert seen.path == "/api/chat"
    assert seen.body["model"] == MODEL and seen.body["messages"] == MESSAGES
    assert seen.body["stream"] is True and seen.body["options"]["temperature"] == 0
    assert KEY not in json.dumps(seen.headers)


def test_ollama_unknown_model(serve: Callable[[Route], Server]) -> None:
    server = serve(ollama_route())
    message = raised(ollama(server.url, "llama9").stream(MESSAGES))
    assert message == (
        f"model 'llama9' not found at {server.url}; set LAKESAGE_LLM_MODEL "
        "(or run `ollama pull llama9`)"
    )


def test_ollama_error_line(serve: Callable[[Route], Server]) -> None:
    def route(h: Handler, body: dict[str, Any]) -> None:
        h.start("application/x-ndjson")
        h.chunk(b'{"message": {"role": "assistant", "content": "Hi"}, "done": false}\n')
        h.chunk(b'{"error": "model runner has unexpectedly stopped"}\n')
        h.finish_chunks()

    stream = ollama(serve(route).url).stream(MESSAGES)
    assert next(stream) == "Hi"
    assert raised(stream).endswith("reported an error: model runner has unexpectedly stopped")


@pytest.mark.parametrize("line", [b"<html>proxy error</html>\n", b'{"message": 3}\n'])
def test_ollama_garbage_line(serve: Callable[[Route], Server], line: bytes) -> None:
    def route(h: Handler, body: dict[str, Any]) -> None:
        h.start("application/x-ndjson")
        h.chunk(line)
        h.finish_chunks()

    assert "unexpected reply" in raised(ollama(serve(route).url).stream(MESSAGES))


def test_ollama_down_and_stalled(serve: Callable[[Route], Server]) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    message = raised(ollama(down).stream(MESSAGES))
    assert message.startswith(f"cannot reach the LLM endpoint at {down}")
    stalled = serve(stall)
    assert "timed out" in raised(ollama(stalled.url, timeout=0.5).stream(MESSAGES))


# make_chat_client


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"engine": "openai", "llm_model": MODEL}, "LAKESAGE_LLM_BASE_URL"),
        ({"engine": "openai", "llm_base_url": "http://127.0.0.1:8000/v1"}, "LAKESAGE_LLM_MODEL"),
        ({"engine": "ollama"}, "LAKESAGE_LLM_MODEL"),
        ({"engine": "llamacpp"}, "LAKESAGE_LLM_MODEL"),
        ({"engine": "llamacpp", "llm_model": "/nowhere/model.gguf"}, "LAKESAGE_LLM_MODEL"),
        (
            {"engine": "openai", "llm_base_url": "localhost:8000/v1", "llm_model": MODEL},
            "LAKESAGE_LLM_BASE_URL",
        ),
        (
            {"engine": "databricks", "llm_model": MODEL, "databricks_token": KEY},
            "LAKESAGE_DATABRICKS_HOST",
        ),
        (
            {"engine": "databricks", "llm_model": MODEL, "databricks_host": "https://ws.example"},
            "LAKESAGE_DATABRICKS_TOKEN",
        ),
        (
            {"engine": "databricks", "databricks_host": "ws.example", "databricks_token": KEY},
            "LAKESAGE_LLM_MODEL",
        ),
    ],
)
def test_missing_or_bad_settings_name_the_variable(
    values: dict[str, Any], variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Databricks SDK's own variables are not a silent fallback.
    monkeypatch.setenv("DATABRICKS_HOST", "https://env.example")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-env")
    with pytest.raises(LLMError, match=variable):
        make_chat_client(Settings(**values))


@pytest.mark.parametrize(
    ("engine", "module"),
    [
        ("openai", "llama_index.llms.openai_like"),
        ("databricks", "llama_index.llms.databricks"),
        ("ollama", "llama_index.llms.ollama"),
    ],
)
def test_a_missing_integration_names_the_install(
    engine: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what `import` meets when it is not installed
    settings = Settings(
        engine=engine,
        llm_base_url="http://127.0.0.1:1/v1",
        llm_model=MODEL,
        databricks_host="https://ws.example",
        databricks_token=KEY,
    )
    with pytest.raises(
        MissingExtraError,
        match=rf"^the {engine} engine needs llama-index-llms-.*: pip install .lakesage\[llm\].$",
    ):
        make_chat_client(settings)


def test_the_extractive_engine_has_no_chat_client() -> None:
    with pytest.raises(
        UnknownNameError,
        match="unknown LLM engine 'extractive'; available: databricks, llamacpp, ollama, openai",
    ):
        make_chat_client(Settings(engine="extractive"))
