"""Chat clients by engine name: OpenAI-compatible, Databricks and Ollama endpoints through
LlamaIndex's LLM integrations, and a local GGUF model (rag.local_llm)."""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import LLMError, MissingExtraError, UnknownNameError

if TYPE_CHECKING:
    from rag.settings import Engine, Settings

OLLAMA_URL = "http://127.0.0.1:11434"
INSTALL = "pip install 'lakesage[llm]'"
SNIPPET_CHARS = 200
# OpenAI's SDK refuses to start without a key and would otherwise read OPENAI_API_KEY from the
# environment and send it to whatever endpoint is configured; keyless servers ignore this one.
NO_KEY = "no-key"
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


def _is_loopback(url: str) -> bool:
    """Whether the URL points at this machine."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, variable: str, example: str) -> None:
    """Refuse URLs no HTTP client can use, before any request."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LLMError(f"{variable} must be an http(s) URL like {example} (got {url!r})")


@dataclass(frozen=True)
class Endpoint:
    """Where an engine sends the chat, and the settings its error messages name as the fix."""

    url: str
    model: str
    timeout: float
    secret: str | None = field(default=None, repr=False)
    url_variable: str = "LAKESAGE_LLM_BASE_URL"
    key_variable: str = "LAKESAGE_LLM_API_KEY"
    model_hint: str = ""

    def error(self, message: str) -> LLMError:
        """A one-line LLMError with the secret scrubbed out."""
        if self.secret:
            message = message.replace(self.secret, "***")
        return LLMError(" ".join(message.split()))

    def timed_out(self) -> LLMError:
        """The endpoint went quiet for longer than the timeout."""
        return self.error(
            f"the LLM endpoint at {self.url} sent nothing for {self.timeout:g} s (timed out); "
            "raise LAKESAGE_LLM_TIMEOUT or check the server"
        )

    def unreachable(self, reason: object) -> LLMError:
        """No connection: the server is down, the host unknown or TLS failed."""
        return self.error(
            f"cannot reach the LLM endpoint at {self.url} ({reason}); "
            f"is the server running? set {self.url_variable}"
        )

    def broke_off(self, exc: BaseException) -> LLMError:
        """The connection failed while the reply was arriving."""
        return self.error(
            f"the LLM endpoint at {self.url} broke off its reply ({type(exc).__name__}: {exc}); "
            "try again or check the server log"
        )

    def status(self, code: int, text: str) -> LLMError:
        """An HTTP error status turned into the fix it calls for."""
        text = _clip(text)
        if code in (401, 403):
            return self.error(
                f"the LLM endpoint refused the API key (HTTP {code}); set {self.key_variable}"
            )
        if code == 404 and ("model" in text.lower() or self.model.lower() in text.lower()):
            return self.error(
                f"model {self.model!r} not found at {self.url}; set LAKESAGE_LLM_MODEL"
                + self.model_hint
            )
        if code == 404:
            return self.error(
                f"nothing answers at {self.url} (HTTP 404: {text}); check {self.url_variable}"
            )
        return self.error(f"the LLM endpoint at {self.url} answered HTTP {code}: {text}")

    def reported(self, text: str) -> LLMError:
        """An error the endpoint sent inside its reply."""
        return self.error(f"the LLM endpoint at {self.url} reported an error: {_clip(text)}")

    def unexpected(self, exc: BaseException) -> LLMError:
        """A reply that is not the protocol the engine speaks."""
        return self.error(
            f"unexpected reply from the LLM endpoint at {self.url} ({_clip(str(exc))}); "
            f"check {self.url_variable}"
        )

    def silent(self) -> LLMError:
        """A reply with no text in it: usually a server that speaks another protocol."""
        return self.error(f"the LLM endpoint at {self.url} sent no text; check {self.url_variable}")


def _transport_error(exc: BaseException, endpoint: Endpoint) -> LLMError | None:
    """httpx failures (the SDKs let those raised mid-stream through unwrapped)."""
    import httpx
    import pydantic

    if isinstance(exc, httpx.TimeoutException):
        return endpoint.timed_out()
    if isinstance(exc, httpx.ConnectError):
        return endpoint.unreachable(exc)
    if isinstance(exc, httpx.TransportError):
        return endpoint.broke_off(exc)
    if isinstance(exc, json.JSONDecodeError | pydantic.ValidationError):
        return endpoint.unexpected(exc)
    return None


def _openai_error(exc: BaseException, endpoint: Endpoint) -> LLMError | None:
    """The OpenAI SDK's exceptions as one-line errors naming the fix."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return endpoint.timed_out()
    if isinstance(exc, openai.APIConnectionError):
        return endpoint.unreachable(exc.__cause__ or exc)
    if isinstance(exc, openai.APIStatusError):
        return endpoint.status(exc.status_code, _openai_text(exc))
    if isinstance(exc, openai.APIError):  # an `error` event in the middle of the stream
        return endpoint.reported(exc.message)
    return _transport_error(exc, endpoint)


def _openai_text(exc: Any) -> str:
    """The human part of an error body: `error.message`, `error`, `message` or `detail`."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        for value in (
            error.get("message") if isinstance(error, dict) else error,
            body.get("message"),
            body.get("detail"),
        ):
            if isinstance(value, str) and value:
                return value
    if isinstance(body, str) and body.strip():
        return body
    return str(exc.response.reason_phrase or exc.message)


def _ollama_error(exc: BaseException, endpoint: Endpoint) -> LLMError | None:
    """The Ollama client's exceptions as one-line errors naming the fix."""
    import ollama

    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == -1:  # an `error` line in the middle of the stream
            return endpoint.reported(exc.error)
        return endpoint.status(exc.status_code, exc.error)
    if isinstance(exc, ConnectionError):  # the client's own "Failed to connect to Ollama"
        return endpoint.unreachable("connection refused")
    return _transport_error(exc, endpoint)


@dataclass(frozen=True)
class LlamaIndexChatClient:
    """A LlamaIndex LLM streaming chats, with its library's exceptions turned into LLMErrors."""

    llm: Any = field(repr=False)
    endpoint: Endpoint
    translate: Callable[[BaseException, Endpoint], LLMError | None] = field(repr=False)

    def stream(self, messages: Messages) -> Iterator[str]:
        """Send the conversation and yield the reply's text deltas as they arrive."""
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        said = False
        try:
            for response in self.llm.stream_chat(chat):
                if response.delta:
                    said = True
                    yield response.delta
        except Exception as exc:
            error = self.translate(exc, self.endpoint)
            if error is None:
                raise
            raise error from None  # the SDKs' exceptions carry the request, key header included
        if not said:
            raise self.endpoint.silent()


class _DropPlaceholderKey:
    """httpx auth that takes the placeholder key back out: a keyless server gets no header."""

    def __call__(self, request: Any) -> Any:
        """The request without `Authorization: Bearer <NO_KEY>`."""
        if request.headers.get("Authorization") == f"Bearer {NO_KEY}":
            del request.headers["Authorization"]
        return request


def _http_client(url: str) -> Any:
    """The OpenAI SDK's default httpx client, ignoring proxy settings for a loopback URL."""
    import openai

    # A corporate HTTP_PROXY must not swallow requests to a server on this machine.
    return openai.DefaultHttpxClient(trust_env=not _is_loopback(url), auth=_DropPlaceholderKey())


def _required(value: str | None, env: str, engine: str, example: str) -> str:
    """A setting the engine cannot work without."""
    if not value:
        raise LLMError(f"the {engine} engine needs {env}; set it (e.g. {example})")
    return value


def _missing(engine: str, package: str) -> MissingExtraError:
    """The one line naming the install that brings the engine's integration."""
    return MissingExtraError(f"the {engine} engine needs {package}: {INSTALL}")


def _openai_like(cls: Any, endpoint: Endpoint, api_base: str, settings: Settings) -> Any:
    """An OpenAI-compatible LlamaIndex LLM over `api_base`, keyed only with `endpoint.secret`."""
    return cls(
        model=endpoint.model,
        api_base=api_base,
        api_key=endpoint.secret or NO_KEY,
        is_chat_model=True,
        context_window=settings.llm_context_window,
        temperature=0.0,
        # The reader is waiting: an error now beats the SDK's backoff-and-retry.
        max_retries=0,
        timeout=endpoint.timeout,
        http_client=_http_client(api_base),
    )


def _make_openai(settings: Settings) -> ChatClient:
    """Any OpenAI-compatible endpoint through LlamaIndex's OpenAILike."""
    base_url = _required(
        settings.llm_base_url,
        "LAKESAGE_LLM_BASE_URL",
        "openai",
        "http://127.0.0.1:8000/v1",
    )
    _check_url(base_url, "LAKESAGE_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    model = _required(settings.llm_model, "LAKESAGE_LLM_MODEL", "openai", "gpt-4o-mini")
    try:
        from llama_index.llms.openai_like import OpenAILike
    except ImportError as exc:
        raise _missing("openai", "llama-index-llms-openai-like") from exc
    endpoint = Endpoint(base_url, model, settings.llm_timeout, secret=settings.llm_api_key)
    llm = _openai_like(OpenAILike, endpoint, base_url, settings)
    return LlamaIndexChatClient(llm, endpoint, _openai_error)


def _make_databricks(settings: Settings) -> ChatClient:
    """A Databricks Model Serving endpoint through LlamaIndex's Databricks LLM."""
    example = "https://<workspace>.cloud.databricks.com"
    host = _required(settings.databricks_host, "LAKESAGE_DATABRICKS_HOST", "databricks", example)
    if "://" not in host:
        host = f"https://{host}"  # as the Databricks CLI accepts it
    _check_url(host, "LAKESAGE_DATABRICKS_HOST", example)
    model = _required(
        settings.llm_model, "LAKESAGE_LLM_MODEL", "databricks", "databricks-meta-llama-3-3-70b"
    )
    # Required, so the integration never falls back to the process's DATABRICKS_TOKEN.
    token = _required(
        settings.databricks_token, "LAKESAGE_DATABRICKS_TOKEN", "databricks", "a personal token"
    )
    try:
        from llama_index.llms.databricks import Databricks
    except ImportError as exc:
        raise _missing("databricks", "llama-index-llms-databricks") from exc
    api_base = f"{host.rstrip('/')}/serving-endpoints"
    endpoint = Endpoint(
        api_base,
        model,
        settings.llm_timeout,
        secret=token,
        url_variable="LAKESAGE_DATABRICKS_HOST",
        key_variable="LAKESAGE_DATABRICKS_TOKEN",
    )
    llm = _openai_like(Databricks, endpoint, api_base, settings)
    return LlamaIndexChatClient(llm, endpoint, _openai_error)


def _make_ollama(settings: Settings) -> ChatClient:
    """An Ollama server through LlamaIndex's Ollama LLM; the base URL defaults to a local one."""
    model = _required(settings.llm_model, "LAKESAGE_LLM_MODEL", "ollama", "llama3.2")
    base_url = settings.llm_base_url or OLLAMA_URL
    _check_url(base_url, "LAKESAGE_LLM_BASE_URL", OLLAMA_URL)
    try:
        import ollama
        from llama_index.llms.ollama import Ollama
    except ImportError as exc:
        raise _missing("ollama", "llama-index-llms-ollama") from exc
    timeout = settings.llm_timeout
    client = ollama.Client(host=base_url, timeout=timeout, trust_env=not _is_loopback(base_url))
    # ollama's client adds OLLAMA_API_KEY from the environment to every request; lakesage sends
    # no key to Ollama, least of all to a base URL a reader typed.
    client._client.headers.pop("authorization", None)
    llm = Ollama(
        model=model,
        base_url=base_url,
        temperature=0.0,
        request_timeout=timeout,
        context_window=settings.llm_context_window,
        client=client,
    )
    endpoint = Endpoint(base_url, model, timeout, model_hint=f" (or run `ollama pull {model}`)")
    return LlamaIndexChatClient(llm, endpoint, _ollama_error)


def _make_llamacpp(settings: Settings) -> ChatClient:
    """A GGUF model run in this process; llama-cpp-python is only imported when chosen."""
    from rag.local_llm import LlamaCppChatClient

    path = _required(
        settings.llm_model, "LAKESAGE_LLM_MODEL", "llamacpp", "the path of a .gguf file"
    )
    return LlamaCppChatClient(path, settings.llm_context_window, settings.llm_max_tokens)


CHAT_CLIENTS: dict[Engine, Callable[[Settings], ChatClient]] = {
    "openai": _make_openai,
    "databricks": _make_databricks,
    "ollama": _make_ollama,
    "llamacpp": _make_llamacpp,
}


def make_chat_client(settings: Settings) -> ChatClient:
    """The chat client for `settings.engine` (openai, databricks, ollama or llamacpp)."""
    factory = CHAT_CLIENTS.get(settings.engine)
    if factory is None:
        raise UnknownNameError(
            f"unknown LLM engine {settings.engine!r}; available: {', '.join(sorted(CHAT_CLIENTS))}"
        )
    return factory(settings)
