"""`rag mcp`: the index as an MCP server for coding agents, over stdio or streamable HTTP."""

from __future__ import annotations

import contextlib
import difflib
import functools
import hmac
import ipaddress
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field

from rag.errors import LakesageError, MissingExtraError
from rag.kb import KnowledgeBase
from rag.models import Hit, symbol_matches, symbol_of
from rag.question import without_noise
from rag.releases import differences
from rag.retrieval import Filters, Snapshot
from rag.settings import Settings

try:
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ModuleNotFoundError as exc:  # the SDK is the optional extra [mcp]
    raise MissingExtraError("`rag mcp` needs the MCP SDK; pip install 'lakesage[mcp]'") from exc

T = TypeVar("T")
MAX_QUERY = 2_000
MAX_K = 50
CLOSEST = 5
LIFE_CYCLE = ("since", "deprecated", "deprecated_use")  # an API entry's metadata (ingest)
LOOPBACK_NAMES = ("localhost",)
# The product filter two tools take, described once for the agent.
Product = Annotated[str | None, Field(description="Only this product: spark, delta or mlflow.")]

INSTRUCTIONS = (
    "Documentation of Apache Spark, Delta Lake and MLflow as indexed by lakesage. Use "
    "search_docs for passages to read and cite, ask for a short grounded answer, lookup_symbol "
    "for an exact API entry's signature and docstring, list_sources for what the index holds."
)


class Passage(BaseModel):
    """One retrieved passage with what an agent needs to cite it."""

    citation: str = Field(description="Citation id: source#ordinal of the chunk.")
    chunk_id: str
    title: str
    heading_path: str
    product: str
    version: str | None
    source: str
    url: str | None
    page: int | None
    cell: int | None = Field(None, description="The notebook cell (the first, of several).")
    last_cell: int | None = Field(None, description="The last cell when the passage joins some.")
    score: float
    text: str


class Passages(BaseModel):
    """The passages of a search, best first."""

    passages: list[Passage]


class Deprecated(BaseModel):
    """A deprecated API entry an answer cites, as its docs mark it."""

    symbol: str
    since: str | None = Field(description="The version it is deprecated since, if the docs say.")
    use: str | None = Field(description="The replacement the docs name, if any.")
    n: int = Field(description="The [n] of the passage that is its entry.")


class Cited(BaseModel):
    """An answer with the passages its [n] markers refer to."""

    answer: str
    refused: bool = Field(description="True when the docs do not answer the question.")
    citations: list[Passage] = Field(description="The passages cited, in [n] order.")
    cited_numbers: list[int]
    deprecated: list[Deprecated] = Field(
        description="Cited API entries their docs mark deprecated: write code with the "
        "replacement instead."
    )


class ApiEntry(BaseModel):
    """One API reference entry: its public name and its documentation text."""

    symbol: str
    product: str
    version: str | None
    source: str
    citation: str
    text: str = Field(description="The signature and docstring as indexed.")
    since: str | None = Field(default=None, description="The version it came in, if known.")
    deprecated: str | None = Field(
        default=None, description='The version it is deprecated since ("yes" if unknown).'
    )
    deprecated_use: str | None = Field(default=None, description="The replacement, if named.")


class Lookup(BaseModel):
    """The entries of an exact name, or the closest names when there are none."""

    found: bool
    entries: list[ApiEntry]
    message: str
    closest: list[str]


class Catalog(BaseModel):
    """What the index holds."""

    chunks: int
    files: int
    products: dict[str, dict[str, int]] = Field(description="product -> files and chunks")
    versions: dict[str, dict[str, int]] = Field(description="product -> version -> chunks")
    sources: dict[str, dict[str, int]] = Field(description="source -> files and chunks")
    model: str | None
    last_run: Any


class Tools:
    """The four tools over one KnowledgeBase; every error is one line an agent can act on."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._seen: Snapshot | None = None
        self._versions: dict[str, Counter[str]] = {}
        self._symbols: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def search_docs(
        self,
        query: Annotated[str, Field(description="What to look for, in plain words or code names.")],
        product: Product = None,
        version: Annotated[str | None, Field(description="Only this version, like 4.0.0.")] = None,
        k: Annotated[int, Field(description=f"Number of passages, 1 to {MAX_K}.")] = 5,
    ) -> Passages:
        """Search the Spark, Delta Lake and MLflow docs and API reference for passages about a
        question. Use it before writing or changing code that uses these libraries, to read the
        documented behaviour, options and examples; cite passages by their citation id."""
        text = _query(query, "query")
        if not 1 <= k <= MAX_K:
            raise ToolError(f"k must be between 1 and {MAX_K}, not {k}; pass k in that range")
        filters = self._filters(product, version)
        return Passages(passages=[_passage(h) for h in self.kb.search(text, k, filters)])

    def ask(
        self,
        question: Annotated[str, Field(description="The question, as a developer would ask it.")],
        product: Product = None,
        version: Annotated[
            str | None, Field(description="Answer from this release only, like 3.3.2.")
        ] = None,
    ) -> Cited:
        """Answer a question about Spark, Delta Lake or MLflow from the docs, with [n]
        citations to the passages it used. Use it for a short grounded answer; it declines
        (refused) when the docs do not cover the question, so do not guess then."""
        text = _query(question, "question")
        answer = self.kb.ask(text, filters=self._filters(product, version))
        cited = answer.cited_hits()
        return Cited(
            answer=answer.text,
            refused=answer.refused,
            citations=[_passage(h) for _, h in cited],
            cited_numbers=[n for n, _ in cited],
            deprecated=[Deprecated(**asdict(entry)) for entry in answer.deprecated],
        )

    def lookup_symbol(
        self,
        name: Annotated[
            str,
            Field(
                description="A dotted API name, full or its last parts: "
                "delta.tables.DeltaTable.vacuum or DeltaTable.vacuum."
            ),
        ],
    ) -> Lookup:
        """Look up the API reference entry of an exact Python name (class, function, method)
        in the indexed packages: its signature, docstring, product and version. Use it to check
        that a method exists and how it is called; an unknown name gets the closest known ones."""
        wanted = _query(name, "name").strip("`").removesuffix("()")
        snap = self.kb.retriever.snapshot()
        self._catalogue(snap)
        chunks = [
            i for i in snap.named([wanted]) if symbol_matches(symbol_of(snap.metas[i]), wanted)
        ]
        if not chunks:
            closest = self._closest(wanted)
            hint = ", ".join(closest) if closest else "none"
            return Lookup(
                found=False,
                entries=[],
                message=f"{wanted}: not in the indexed docs; closest: {hint}",
                closest=closest,
            )
        entries = [_entry(snap, group) for group in _by_entry(snap, chunks)]
        # One entry per indexed release: say where their signatures differ.
        message = " ".join(differences(snap, list(dict.fromkeys(e.symbol for e in entries))))
        return Lookup(found=True, entries=entries, message=message, closest=[])

    def list_sources(self) -> Catalog:
        """List what the index holds: products with their versions, sources (folders, packages,
        URLs) and chunk counts, the embedding model and the last ingest. Use it to learn which
        products and versions search_docs can filter on."""
        status = self.kb.status()
        snap = self.kb.retriever.snapshot()
        self._catalogue(snap)
        return Catalog(
            chunks=status["chunks"],
            files=status["files"],
            products=status["products"],
            versions={p: dict(sorted(v.items())) for p, v in sorted(self._versions.items())},
            sources=status["sources"],
            model=status.get("model"),
            last_run=status.get("last_run"),
        )

    def _filters(self, product: str | None, version: str | None) -> Filters:
        """The search filters, products and versions checked against the index's."""
        if product is None and version is None:
            return Filters()
        self._catalogue(self.kb.retriever.snapshot())
        if product is not None and product not in self._versions:
            raise ToolError(
                f"unknown product {product!r}; use one of {', '.join(sorted(self._versions))}"
            )
        if version is not None:
            known = sorted(
                {v for p, vs in self._versions.items() if product in (None, p) for v in vs} - {""}
            )
            if version not in known:
                raise ToolError(
                    f"unknown version {version!r}; use one of {', '.join(known) or 'none'} "
                    "(see list_sources)"
                )
        return Filters(
            products=(product,) if product else (), versions=(version,) if version else ()
        )

    def _catalogue(self, snap: Snapshot) -> None:
        """Read the products, versions and API symbols of a snapshot once (each ingest makes
        a new one)."""
        with self._lock:
            if snap is self._seen:
                return
            versions: dict[str, Counter[str]] = {}
            symbols: dict[str, list[int]] = {}
            for i, meta in enumerate(snap.metas):
                product = str(meta.get("product", ""))
                versions.setdefault(product, Counter())[str(meta.get("version", ""))] += 1
                if symbol := symbol_of(meta):
                    symbols.setdefault(symbol, []).append(i)
            self._versions, self._symbols, self._seen = versions, symbols, snap

    def _closest(self, name: str) -> list[str]:
        """Known symbols whose last parts (as many as the name has) are spelled like it."""
        parts = name.count(".") + 1
        tails: dict[str, list[str]] = {}
        for symbol in self._symbols:
            tails.setdefault(".".join(symbol.lower().split(".")[-parts:]), []).append(symbol)
        near = difflib.get_close_matches(name.lower(), list(tails), n=CLOSEST, cutoff=0.6)
        return [symbol for tail in near for symbol in sorted(tails[tail])][:CLOSEST]


def _query(text: str, what: str) -> str:
    """A query stripped (a pasted log's stack traces cut to their first frames, see
    rag.question.without_noise), or a tool error when it is empty or too long."""
    stripped = without_noise(text.strip())
    if not stripped:
        raise ToolError(f"the {what} is empty; pass some words to look for")
    if len(stripped) > MAX_QUERY:
        raise ToolError(
            f"the {what} has {len(stripped)} characters with its stack traces cut to their "
            f"first frames; keep it under {MAX_QUERY} (ask about one thing, not a whole file)"
        )
    return stripped


def _by_entry(snap: Snapshot, chunks: list[int]) -> list[list[int]]:
    """Chunks grouped by the entry (symbol, and the release and file it comes from) they
    belong to, in reading order: two releases of a package give two entries."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i in sorted(set(chunks), key=lambda i: snap.position(i)):
        origin, source, _ = snap.position(i)
        groups.setdefault((symbol_of(snap.metas[i]), origin, source), []).append(i)
    return list(groups.values())


def _entry(snap: Snapshot, group: list[int]) -> ApiEntry:
    """One API entry from its chunks."""
    meta = snap.metas[group[0]]
    version = meta.get("version")
    return ApiEntry(
        symbol=symbol_of(meta),
        product=str(meta.get("product", "")),
        version=str(version) if version else None,
        source=str(meta.get("source", "")),
        citation=f"{meta.get('source', '')}#{meta.get('ordinal', 0)}",
        text="\n\n".join(snap.texts[i] for i in group),
        **{key: str(meta[key]) for key in LIFE_CYCLE if meta.get(key)},
    )


def _passage(hit: Hit) -> Passage:
    """A hit as a citable passage."""
    version = hit.metadata.get("version")
    return Passage(
        citation=f"{hit.source}#{hit.metadata.get('ordinal', 0)}",
        chunk_id=hit.id,
        title=hit.title,
        heading_path=hit.heading_path,
        product=hit.product,
        version=str(version) if version else None,
        source=hit.source,
        url=hit.url,
        page=hit.page,
        cell=hit.cell,
        last_cell=hit.last_cell,
        score=round(hit.score, 6),
        text=hit.text,
    )


class StaticToken:
    """Accepts one bearer token, compared in constant time (the SDK's TokenVerifier)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        """The access of the configured token; None (a 401) for any other."""
        if hmac.compare_digest(token.encode(), self._token.encode()):
            return AccessToken(token=token, client_id="lakesage", scopes=[])
        return None


def build_server(
    kb: KnowledgeBase, *, token: str | None = None, url: str = "http://127.0.0.1"
) -> MCPServer[Any]:
    """The MCP server with its four tools; with a token, HTTP requests must carry it."""
    auth: dict[str, Any] = {}
    if token:
        # The SDK's bearer check needs AuthSettings; this server is its own (static) issuer.
        auth = {
            "auth": AuthSettings(issuer_url=url, resource_server_url=None),  # type: ignore[arg-type]
            "token_verifier": StaticToken(token),
        }
    server: MCPServer[Any] = MCPServer(
        "lakesage", instructions=INSTRUCTIONS, log_level="WARNING", **auth
    )
    tools = Tools(kb)
    read_only = {"readOnlyHint": True, "openWorldHint": False}
    for fn in (tools.search_docs, tools.ask, tools.lookup_symbol, tools.list_sources):
        server.add_tool(_reporting(fn), annotations=read_only)  # type: ignore[arg-type]
    return server


def _reporting(fn: Callable[..., T]) -> Callable[..., T]:
    """The tool with lakesage's one-line errors (no index, LLM down) as tool errors the agent
    reads; the SDK would show any other exception as a bare "Error executing tool"."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except LakesageError as exc:
            raise ToolError(str(exc)) from exc

    return call


def parse_bind(text: str) -> tuple[str, int]:
    """HOST and PORT of `[HOST:]PORT` (host 127.0.0.1 when left out)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise LakesageError(f"--http {text}: expected [HOST:]PORT, like 127.0.0.1:8765")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether a bind address only this machine can reach."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, http: str | None = None) -> None:
    """Serve the index over stdio, or over streamable HTTP at `[HOST:]PORT`."""
    bind = parse_bind(http) if http is not None else None
    token = settings.mcp_token
    if bind and not is_loopback(bind[0]) and not token:
        raise LakesageError(
            f"--http {http}: binding beyond loopback needs a bearer token; "
            "set LAKESAGE_MCP_TOKEN (or mcp_token in lakesage.toml)"
        )
    kb = KnowledgeBase(settings)
    kb.status()  # no index: fail now with the error naming `ingest`, not on the first call
    # Load the model and the index while the client connects; the first call waits for it.
    threading.Thread(target=_warm, args=(kb,), daemon=True).start()
    if bind is None:
        build_server(kb).run("stdio")
        return
    host, port = bind
    server = build_server(kb, token=token, url=f"http://{host}:{port}")
    server.run("streamable-http", host=host, port=port)


def _warm(kb: KnowledgeBase) -> None:
    """One search, so the embedder and the snapshot are loaded before the first real call."""
    with contextlib.suppress(LakesageError):  # the first tool call reports it
        kb.search("warm up", 1)
