"""Scripted LLM servers on 127.0.0.1: a real HTTP server in a thread whose behaviour is one
route function, the OpenAI-compatible and Ollama routes, and the bytes they stream."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "sk-test-5ecret-key-0123456789"
MODEL = "lake-llm"
WORDS = ["Delta ", "Lake ", "supports ", "time ", "travel [1]."]


@dataclass
class Seen:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Handler(BaseHTTPRequestHandler):
    """Reads the JSON request, records it and hands it to the server's route."""

    protocol_version = "HTTP/1.1"
    server: Server

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.seen.append(Seen(self.path, dict(self.headers), body))
        self.server.route(self, body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def start(self, content_type: str) -> None:
        """Headers of a chunked streaming reply."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        """One HTTP chunk, flushed so the client sees it now."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def finish_chunks(self) -> None:
        """The last, empty chunk."""
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def send_json(self, status: int, value: Any, content_type: str = "application/json") -> None:
        """A whole (non-streamed) reply."""
        data = value if isinstance(value, bytes) else json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


Route = Callable[[Handler, dict[str, Any]], None]


class Server(ThreadingHTTPServer):
    """A throwaway server whose behaviour is one route function."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, route: Route) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.route = route
        self.seen: list[Seen] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-reply is what some tests do on purpose."""


def sse(value: Any) -> bytes:
    """One Server-Sent Event carrying JSON."""
    return b"data: " + json.dumps(value).encode() + b"\n\n"


def delta(text: str) -> bytes:
    """A streamed chat completion chunk."""
    return sse(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": text}}],
        }
    )


def openai_route(words: list[str] = WORDS, key: str | None = KEY) -> Route:
    """An OpenAI-compatible server: checks the key and model, then streams SSE."""

    def route(h: Handler, body: dict[str, Any]) -> None:
        if key is not None and h.headers.get("Authorization") != f"Bearer {key}":
            # Real servers echo (part of) the bad key; the client must not repeat it.
            h.send_json(
                401, {"error": {"message": f"Incorrect API key: {h.headers.get('Authorization')}"}}
            )
            return
        if body["model"] != MODEL:
            h.send_json(404, {"error": {"message": f"The model `{body['model']}` does not exist."}})
            return
        h.start("text/event-stream; charset=utf-8")
        h.chunk(b": keep-alive\n\n")
        h.chunk(sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
        for word in words:
            h.chunk(delta(word))
        h.chunk(sse({"choices": [], "usage": {"total_tokens": 42}}))
        h.chunk(b"data: [DONE]\n\n")
        h.finish_chunks()

    return route


def ollama_route(words: list[str] = WORDS) -> Route:
    """An Ollama server: NDJSON lines until `done`."""

    def route(h: Handler, body: dict[str, Any]) -> None:
        if body["model"] != MODEL:
            h.send_json(404, {"error": f"model '{body['model']}' not found"})
            return
        h.start("application/x-ndjson")
        for word in words:
            line = {
                "model": MODEL,
                "message": {"role": "assistant", "content": word},
                "done": False,
            }
            h.chunk(json.dumps(line).encode() + b"\n")
        h.chunk(
            json.dumps(
                {"model": MODEL, "message": {"role": "assistant", "content": ""}, "done": True}
            ).encode()
            + b"\n"
        )
        h.finish_chunks()

    return route


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
