"""The real `rag mcp` command, driven by the MCP SDK's own client over stdio and over HTTP."""

from __future__ import annotations

import importlib.metadata
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult, TextContent

from rag.kb import KnowledgeBase
from rag.mcp_server import build_server
from rag.settings import load_settings
from tests.commands import BIN, command_env, run, stop
from tests.conftest import copy_corpus
from tests.fake_packages import api_subset

GUIDES = (
    "delta/docs/delta-utility/index.mdx",
    "spark/docs/sql-data-sources-jdbc.md",
    "mlflow/docs/docs/classic-ml/model-registry/workflow.mdx",
)
VACUUM = "How do I remove old files of a Delta table with vacuum?"
TOKEN = "mcp-test-token-5150515051"

pytestmark = pytest.mark.timeout(600)


SOURCES = """
[[source]]
name = "api"
package = "pkg:{package}"
product = "spark"
""" + "".join(
    f"""
[[source]]
name = "{product}-guides"
url = "https://example.invalid/{product}.tar.gz"
mirror = "{product}"
product = "{product}"
version = "{version}"
"""
    for product, version in (("spark", "4.0.1"), ("delta", "4.0.0"), ("mlflow", "3.1.4"))
)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path) -> Path:
    """A home indexed by the real `ingest --mirror`: three guides of the shared corpus, with
    their products, versions and URLs, and pyspark's catalog module as API reference."""
    base = tmp_path_factory.mktemp("mcp")
    mirror = copy_corpus(shared_corpus, base / "mirror", (*GUIDES, "MANIFEST.tsv"))
    site = base / "site"
    sources = base / "sources.toml"
    package = api_subset(site, "pyspark", ("pyspark/sql/catalog.py",))
    sources.write_text(SOURCES.format(package=package), encoding="utf-8")
    home = base / "home"
    done = run(
        "ingest",
        "--mirror",
        str(mirror),
        "--json",
        home=home,
        cwd=base,
        LAKESAGE_SOURCES_FILE=str(sources),
        PYTHONPATH=str(site),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["failures"] == []
    return home


def stdio_params(home: Path) -> StdioServerParameters:
    """`rag mcp` on this home, run as an agent would launch it."""
    return StdioServerParameters(command=str(BIN / "rag"), args=["mcp"], env=command_env(home))


def with_client(server: Any, body: Callable[[Client], Awaitable[None]]) -> None:
    """Connect the SDK's client to a server and run the checks in body."""

    async def main() -> None:
        async with Client(server, read_timeout_seconds=120) as client:
            await body(client)

    anyio.run(main)


def payload(result: CallToolResult) -> Any:
    """A successful result's JSON text."""
    assert not result.is_error, text(result)
    return json.loads(text(result))


def text(result: CallToolResult) -> str:
    """The text of a result's first content block."""
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def test_stdio_tools_answer_from_the_index(index: Path) -> None:
    home = index

    async def body(client: Client) -> None:
        names = {tool.name: tool.description or "" for tool in (await client.list_tools()).tools}
        assert set(names) == {"search_docs", "ask", "lookup_symbol", "list_sources"}
        assert all(len(description) > 80 for description in names.values())

        found = payload(await client.call_tool("search_docs", {"query": VACUUM, "k": 3}))
        best = found["passages"][0]
        assert best["source"] == "delta/docs/delta-utility/index.mdx"
        assert best["product"] == "delta" and best["version"] == "4.0.0"
        assert best["url"].startswith("https://github.com/delta-io/delta/")
        assert best["citation"].startswith("delta/docs/delta-utility/index.mdx#")
        assert "vacuum" in best["text"].lower() and best["heading_path"].startswith(best["title"])

        only_spark = payload(
            await client.call_tool("search_docs", {"query": VACUUM, "product": "spark", "k": 2})
        )
        assert {p["product"] for p in only_spark["passages"]} == {"spark"}

        answer = payload(await client.call_tool("ask", {"question": VACUUM}))
        assert not answer["refused"] and answer["citations"]
        assert "delta/docs/delta-utility/index.mdx" in {c["source"] for c in answer["citations"]}
        assert "[1]" in answer["answer"] or "[2]" in answer["answer"]
        assert answer["deprecated"] == []

        sources = payload(await client.call_tool("list_sources", {}))
        assert set(sources["products"]) == {"delta", "spark", "mlflow"}
        assert sources["versions"]["delta"] == {"4.0.0": sources["products"]["delta"]["chunks"]}
        assert sources["chunks"] == sum(p["chunks"] for p in sources["products"].values())

    with_client(stdio_params(home), body)


def test_stdio_lookup_symbol(index: Path) -> None:
    home = index
    version = importlib.metadata.version("pyspark")

    async def body(client: Client) -> None:
        entry = payload(await client.call_tool("lookup_symbol", {"name": "Catalog.listTables"}))
        assert entry["found"], entry
        listed = entry["entries"][0]
        assert listed["symbol"].endswith(".Catalog.listTables")
        assert listed["version"] == version and listed["product"] == "spark"
        assert "def listTables(" in listed["text"]

        old = payload(await client.call_tool("lookup_symbol", {"name": "Catalog.registerFunction"}))
        entry = old["entries"][0]
        assert (entry["since"], entry["deprecated"], entry["deprecated_use"]) == (
            "2.0.0",
            "2.3.0",
            "spark.udf.register",
        )
        assert listed["deprecated"] is None and listed["since"] == "2.0.0"

        missing = payload(await client.call_tool("lookup_symbol", {"name": "Catalog.listTabels"}))
        assert not missing["found"]
        assert missing["message"].startswith(
            "Catalog.listTabels: not in the indexed docs; closest:"
        )
        assert any(name.endswith("Catalog.listTables") for name in missing["closest"])

    with_client(stdio_params(home), body)


BAD_INPUTS = [
    ({"query": "   "}, "empty"),
    ({"query": "vacuum " * 15_000}, "keep it under"),
    ({"query": VACUUM, "k": 0}, "between 1 and"),
    ({"query": VACUUM, "k": 500}, "between 1 and"),
    ({"query": VACUUM, "product": "kafka"}, "unknown product 'kafka'; use one of delta, mlflow"),
    ({"query": VACUUM, "version": "9.9"}, "unknown version '9.9'"),
]


def test_bad_inputs_are_tool_errors_and_the_server_keeps_serving(
    index: Path,
) -> None:
    home = index

    async def body(client: Client) -> None:
        for arguments, message in BAD_INPUTS:
            result = await client.call_tool("search_docs", arguments)
            assert result.is_error, arguments
            assert message in text(result) and "\n" not in text(result)
            after = await client.call_tool("search_docs", {"query": VACUUM, "k": 1})
            assert payload(after)["passages"][0]["source"] == GUIDES[0]
        empty = await client.call_tool("ask", {"question": ""})
        assert empty.is_error and "empty" in text(empty)

    with_client(stdio_params(home), body)


def test_a_pasted_stack_trace_is_asked_with_its_first_frames(index: Path) -> None:
    """A whole trace runs past the length limit; cut to the first frames of each run, it is
    asked and answered."""
    frames = "\n".join(
        f"\tat org.apache.spark.sql.delta.commands.VacuumCommand$.gc{k}(VacuumCommand.scala:{k})"
        for k in range(60)
    )
    trace = (
        "java.lang.IllegalArgumentException: requirement failed: Are you sure you would like "
        f"to vacuum files with such a low retention period?\n{frames}\nHow do I vacuum?"
    )
    assert len(trace) > 4_000

    async def body(client: Client) -> None:
        answer = payload(await client.call_tool("ask", {"question": trace}))
        assert not answer["refused"]
        assert "delta/docs/delta-utility/index.mdx" in {c["source"] for c in answer["citations"]}

    with_client(stdio_params(index), body)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(index: Path, tmp_path: Path) -> Iterator[str]:
    """`rag mcp --http` on loopback with a token; its URL once it accepts connections."""
    home = index
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "rag"), "mcp", "--http", f"127.0.0.1:{port}"],
        env=command_env(home, LAKESAGE_MCP_TOKEN=TOKEN),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "rag mcp --http did not start in 60 s"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(process)
        out, err = process.communicate()
        assert TOKEN not in out + err


def post(url: str, token: str | None) -> int:
    """The status of an initialize request with this bearer token (or none)."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_http_serves_the_tools_with_the_bearer_token(http_server: str) -> None:
    assert post(http_server, None) == 401
    assert post(http_server, TOKEN + "x") == 401
    assert post(http_server, TOKEN) == 200

    async def main() -> None:
        async with create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            transport = streamable_http_client(http_server, http_client=http)
            async with Client(transport, read_timeout_seconds=120) as client:
                found = payload(await client.call_tool("search_docs", {"query": VACUUM, "k": 2}))
                assert found["passages"][0]["source"] == GUIDES[0]
                bad = await client.call_tool("search_docs", {"query": ""})
                assert bad.is_error
                again = payload(await client.call_tool("list_sources", {}))
                assert "delta" in again["products"]

    anyio.run(main)


def test_binding_beyond_loopback_needs_a_token(index: Path, tmp_path: Path) -> None:
    home = index
    done = run(
        "rag", "mcp", "--http", f"0.0.0.0:{free_port()}", home=home, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "LAKESAGE_MCP_TOKEN" in lines[0], done.stderr


def test_bad_bind_and_no_index_are_one_line(tmp_path: Path) -> None:
    home = tmp_path / "empty"
    bad = run("rag", "mcp", "--http", "127.0.0.1:http", home=home, cwd=tmp_path, timeout=60)
    assert bad.returncode == 1 and "expected [HOST:]PORT" in bad.stderr
    empty = run("rag", "mcp", home=home, cwd=tmp_path, timeout=60)
    assert empty.returncode == 1
    assert (
        empty.stderr.strip()
        == f"rag: no index in {home}; run `ingest` first (or set LAKESAGE_HOME)"
    )


def test_missing_sdk_names_the_extra(tmp_path: Path) -> None:
    """Without the SDK installed, `rag mcp` says which pip install fixes it."""
    script = (
        "import sys; sys.modules['mcp'] = None; from rag.cli import main; sys.exit(main(['mcp']))"
    )
    done = subprocess.run(
        [str(BIN / "python"), "-c", script],
        capture_output=True,
        text=True,
        env=command_env(tmp_path / "home"),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "rag: `rag mcp` needs the MCP SDK; pip install 'lakesage[mcp]'"


def test_lakesage_errors_reach_the_agent(tmp_path: Path) -> None:
    """An index gone after start (or an LLM endpoint down) is a tool error naming the fix."""
    kb = KnowledgeBase(load_settings(home=tmp_path / "gone"))

    async def body(client: Client) -> None:
        result = await client.call_tool("search_docs", {"query": VACUUM})
        assert result.is_error
        assert "no index in" in text(result) and "run `ingest` first" in text(result)

    with_client(build_server(kb), body)
