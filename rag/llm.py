"""Streaming chat clients: OpenAI-compatible and Ollama endpoints over stdlib HTTP, and a local
GGUF model (rag.local_llm), chosen by engine name."""

from __future__ import annotations

import http.client
import ipaddress
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import LLMError, UnknownNameError

if TYPE_CHECKING:
    from rag.settings import Settings

OLLAMA_URL = "http://127.0.0.1:11434"
SNIPPET_CHARS = 200
Messages = list[dict[str, str]]


class ChatClient(Protocol):
    """A chat model that streams its reply."""

    def stream(self, messages: Messages) -> Iterator[str]:
        """Send the conversation and yield the reply as text deltas."""
        ...


def _clip(text: str) -> str:
    """Whitespace collapsed and cut to a short snippet."""
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1] + "…"


def _dig(value: Any, *path: str | int) -> Any:
    """`value[p0][p1]...`, or None as soon as a step is missing."""
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


def _error_text(data: Any, raw: str) -> str:
    """The human part of an error: `error.message`, `error`, `message` or `detail`, else raw."""
    for path in (("error", "message"), ("error",), ("message",), ("detail",)):
        found = _dig(data, *path)
        if isinstance(found, str) and found:
            return _clip(found)
    return _clip(raw)


def _body_error_text(body: str) -> str:
    """The human part of an HTTP error body, JSON or not."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    return _error_text(data, body)


def _is_loopback(url: str) -> bool:
    """Whether the URL points at this machine."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: str) -> None:
    """Refuse base URLs urllib cannot use, before any request."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LLMError(
            f"LAKESAGE_LLM_BASE_URL must be an http(s) URL like http://127.0.0.1:8000/v1 "
            f"(got {base_url!r})"
        )


@dataclass(frozen=True)
class _Endpoint:
    """One POST target, and the errors that name it without leaking the secret."""

    url: str
    model: str
    timeout: float
    secret: str | None = field(default=None, repr=False)
    pull_hint: str = ""

    def error(self, message: str) -> LLMError:
        """An LLMError with the secret scrubbed out of the message."""
        if self.secret:
            message = message.replace(self.secret, "***")
        return LLMError(message)

    def post(self, body: dict[str, Any], headers: dict[str, str]) -> http.client.HTTPResponse:
        """Send the JSON body; connection and HTTP failures become LLMError."""
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode("utf-8"),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "lakesage", **headers},
        )
        # A corporate HTTP_PROXY must not swallow requests to a server on this machine.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(self.url) else []
        opener = urllib.request.build_opener(*handlers)
        try:
            response: http.client.HTTPResponse = opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from exc
        except urllib.error.URLError as exc:
            raise self._connect_error(exc.reason) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._connect_error(exc) from exc
        return response

    def lines(self, response: http.client.HTTPResponse) -> Iterator[str]:
        """The response body line by line, as it arrives."""
        try:
            for raw in response:
                yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
        except (OSError, http.client.HTTPException) as exc:
            raise self._stream_error(exc) from exc

    def read(self, response: http.client.HTTPResponse) -> str:
        """The whole response body."""
        try:
            return response.read().decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            raise self._stream_error(exc) from exc

    def parse(self, text: str) -> Any:
        """One JSON document from the endpoint; anything else is an LLMError."""
        try:
            return json.loads(text)
        except ValueError as exc:
            raise self.error(
                f"unexpected reply from the LLM endpoint at {self.url}: {_clip(text)!r}"
            ) from exc

    def check(self, item: Any) -> None:
        """Raise when a streamed item carries an `error` field."""
        problem = _dig(item, "error")
        if problem:
            text = _error_text(item, json.dumps(problem))
            raise self.error(f"the LLM endpoint at {self.url} reported an error: {text}")

    def _timeout_error(self) -> LLMError:
        """The endpoint went quiet for longer than the timeout."""
        return self.error(
            f"the LLM endpoint at {self.url} sent nothing for {self.timeout:g} s (timed out); "
            "raise LAKESAGE_LLM_TIMEOUT or check the server"
        )

    def _connect_error(self, reason: object) -> LLMError:
        """Failures before any reply: down, unknown host, TLS, timeout."""
        if isinstance(reason, TimeoutError):
            return self._timeout_error()
        if isinstance(reason, ssl.SSLError):
            return self.error(
                f"TLS with the LLM endpoint at {self.url} failed ({reason}); "
                "check its certificate or LAKESAGE_LLM_BASE_URL"
            )
        return self.error(
            f"cannot reach the LLM endpoint at {self.url} ({reason}); "
            "is the server running? set LAKESAGE_LLM_BASE_URL"
        )

    def _stream_error(self, exc: Exception) -> LLMError:
        """Failures while the reply is arriving."""
        if isinstance(exc, TimeoutError):
            return self._timeout_error()
        return self.error(
            f"the LLM endpoint at {self.url} broke off its reply ({type(exc).__name__}: {exc}); "
            "try again or check the server log"
        )

    def _http_error(self, exc: urllib.error.HTTPError) -> LLMError:
        """An HTTP error status turned into the fix it calls for."""
        try:
            body = exc.read(4096).decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException):
            body = ""
        text = _body_error_text(body) if body.strip() else str(exc.reason)
        if exc.code in (401, 403):
            return self.error(
                f"the LLM endpoint refused the API key (HTTP {exc.code}); set LAKESAGE_LLM_API_KEY"
            )
        if exc.code == 404 and ("model" in text.lower() or self.model.lower() in text.lower()):
            return self.error(
                f"model {self.model!r} not found at {self.url}; set LAKESAGE_LLM_MODEL"
                + self.pull_hint
            )
        if exc.code == 404:
            return self.error(
                f"nothing answers at {self.url} (HTTP 404: {text}); check LAKESAGE_LLM_BASE_URL"
            )
        return self.error(f"the LLM endpoint at {self.url} answered HTTP {exc.code}: {text}")


def _sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The data payload of each Server-Sent Event."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        # Comments (":"), "event:", "id:" and "retry:" lines carry nothing we use.
    if data:
        yield "\n".join(data)


def _openai_deltas(payloads: Iterable[str], endpoint: _Endpoint) -> Iterator[str]:
    """Text deltas from streamed chat completion chunks, up to `[DONE]`."""
    for payload in payloads:
        if payload.strip() == "[DONE]":
            return
        chunk = endpoint.parse(payload)
        endpoint.check(chunk)
        text = _dig(chunk, "choices", 0, "delta", "content")
        if isinstance(text, str) and text:
            yield text


def _openai_whole(body: str, endpoint: _Endpoint) -> Iterator[str]:
    """The reply from a server that ignored `stream` (or mislabelled its event stream)."""
    if body.lstrip().startswith(("data:", ":", "event:")):
        yield from _openai_deltas(_sse_data(body.splitlines()), endpoint)
        return
    data = endpoint.parse(body)
    endpoint.check(data)
    text = _dig(data, "choices", 0, "message", "content")
    if not isinstance(text, str):
        raise endpoint.error(
            f"unexpected reply from the LLM endpoint at {endpoint.url}: {_clip(body)!r}; "
            "is it OpenAI-compatible?"
        )
    if text:
        yield text


@dataclass(frozen=True)
class OpenAIChatClient:
    """An OpenAI-compatible `/chat/completions` endpoint (vLLM, llama.cpp, Databricks serving)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0

    def __post_init__(self) -> None:
        """Fail on an unusable base URL at construction."""
        _check_base_url(self.base_url)

    def _endpoint(self) -> _Endpoint:
        """The `/chat/completions` target under the base URL."""
        url = f"{self.base_url.rstrip('/')}/chat/completions"
        return _Endpoint(url, self.model, self.timeout, secret=self.api_key)

    def stream(self, messages: Messages) -> Iterator[str]:
        """POST the conversation with `stream: true` and yield content deltas."""
        endpoint = self._endpoint()
        body = {"model": self.model, "messages": messages, "stream": True, "temperature": 0}
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        with endpoint.post(body, headers) as response:
            if response.headers.get_content_type() == "text/event-stream":
                yield from _openai_deltas(_sse_data(endpoint.lines(response)), endpoint)
            else:
                yield from _openai_whole(endpoint.read(response), endpoint)


@dataclass(frozen=True)
class OllamaChatClient:
    """An Ollama server's `/api/chat`."""

    base_url: str
    model: str
    timeout: float = 60.0

    def __post_init__(self) -> None:
        """Fail on an unusable base URL at construction."""
        _check_base_url(self.base_url)

    def _endpoint(self) -> _Endpoint:
        """The `/api/chat` target under the base URL."""
        url = f"{self.base_url.rstrip('/')}/api/chat"
        hint = f" (or run `ollama pull {self.model}`)"
        return _Endpoint(url, self.model, self.timeout, pull_hint=hint)

    def stream(self, messages: Messages) -> Iterator[str]:
        """POST the conversation and yield the content of each NDJSON line until `done`."""
        endpoint = self._endpoint()
        body = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "options": {"temperature": 0},
        }
        with endpoint.post(body, {"Accept": "application/x-ndjson"}) as response:
            for line in endpoint.lines(response):
                if not line.strip():
                    continue
                item = endpoint.parse(line)
                endpoint.check(item)
                text = _dig(item, "message", "content")
                if isinstance(text, str) and text:
                    yield text
                if _dig(item, "done") is True:
                    return


def _required(value: str | None, env: str, engine: str, example: str) -> str:
    """A setting the engine cannot work without."""
    if not value:
        raise LLMError(f"the {engine} engine needs {env}; set it (e.g. {example})")
    return value


def _make_openai(settings: Settings) -> OpenAIChatClient:
    """The OpenAI-compatible client from settings."""
    base_url = _required(
        settings.llm_base_url,
        "LAKESAGE_LLM_BASE_URL",
        "openai",
        "http://127.0.0.1:8000/v1 or https://<workspace>/serving-endpoints",
    )
    model = _required(settings.llm_model, "LAKESAGE_LLM_MODEL", "openai", "gpt-4o-mini")
    return OpenAIChatClient(base_url, model, settings.llm_api_key, settings.llm_timeout)


def _make_ollama(settings: Settings) -> OllamaChatClient:
    """The Ollama client from settings; the base URL defaults to a local server."""
    model = _required(settings.llm_model, "LAKESAGE_LLM_MODEL", "ollama", "llama3.2")
    return OllamaChatClient(settings.llm_base_url or OLLAMA_URL, model, settings.llm_timeout)


def _make_llamacpp(settings: Settings) -> ChatClient:
    """A GGUF model run in this process; llama-cpp-python is only imported when chosen."""
    from rag.local_llm import LlamaCppChatClient

    path = _required(
        settings.llm_model, "LAKESAGE_LLM_MODEL", "llamacpp", "the path of a .gguf file"
    )
    return LlamaCppChatClient(path, settings.llm_context_window, settings.llm_max_tokens)


ENGINES: dict[str, Callable[[Settings], ChatClient]] = {
    "openai": _make_openai,
    "ollama": _make_ollama,
    "llamacpp": _make_llamacpp,
}


def make_chat_client(settings: Settings) -> ChatClient:
    """The chat client for `settings.engine` (openai, ollama or llamacpp)."""
    factory = ENGINES.get(settings.engine)
    if factory is None:
        raise UnknownNameError(
            f"unknown LLM engine {settings.engine!r}; available: {', '.join(sorted(ENGINES))}"
        )
    return factory(settings)
