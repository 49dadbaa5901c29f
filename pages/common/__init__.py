"""What the pages share: settings, the cached knowledge base, the sidebar options, safe Markdown."""

from __future__ import annotations

import contextlib
import hmac
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import streamlit as st

from ingest.pipeline import Pipeline, Report
from ingest.sources import SourceSpec
from rag.embedding import Embedder, make_embedder
from rag.errors import IndexNotFoundError, LakesageError
from rag.feedback import cited_claims, highlight_spans
from rag.kb import KnowledgeBase, settings_for_index
from rag.llm import OLLAMA_URL
from rag.models import Answer
from rag.offline import go_offline
from rag.settings import ENGINES, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
# Every ASCII punctuation character can be backslash-escaped in (CommonMark) Markdown.
MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
SIDEBAR_KEYS = (
    "persona",
    "products",
    "engine",
    "llm_base_url",
    "databricks_host",
    "llm_model",
    "top_k",
)
DATABRICKS_EXAMPLE = "https://<workspace>.cloud.databricks.com"
PRODUCT_COLORS = {"spark": "orange", "delta": "blue", "mlflow": "violet", "team": "green"}
ADMIN_OK = "admin-ok"
ADMIN_INPUT = "admin-password"


def stop_with_error(message: str) -> NoReturn:
    """Show one clear error line and end this run of the page."""
    st.error(message)
    st.stop()


def page_setup(title: str) -> tuple[Settings, KnowledgeBase]:
    """The page config, settings, cached knowledge base and sidebar every page starts with."""
    go_offline()
    st.set_page_config(page_title=f"{title} · lakesage", page_icon=":books:")
    settings = app_settings()
    kb = knowledge_base(settings)
    sidebar(kb, settings)
    return settings, kb


def password_matches(entered: str, password: str) -> bool:
    """Whether the entered password is the admin password, compared in constant time."""
    return hmac.compare_digest(entered.encode(), password.encode())


def admin_gate(settings: Settings, action: str) -> bool:
    """Whether this session may write to the home or the index: no admin password is set, or it
    was given once. Otherwise asks for it (and says why) and returns False."""
    if not settings.admin_password or st.session_state.get(ADMIN_OK):
        return True
    entered = st.text_input("Admin password", type="password", key=ADMIN_INPUT)
    if not entered:
        st.info(f"{action} needs the admin password (set by LAKESAGE_ADMIN_PASSWORD).")
        return False
    if not password_matches(entered, settings.admin_password):
        st.error("Wrong admin password; try again.")
        return False
    st.session_state[ADMIN_OK] = True
    del st.session_state[ADMIN_INPUT]  # the password does not stay in the session or the page
    st.rerun()


def app_settings() -> Settings:
    """The settings (defaults, lakesage.toml, LAKESAGE_* env vars), or an error naming the fix."""
    try:
        return settings_for_index(load_settings())
    except LakesageError as exc:
        stop_with_error(str(exc))


@st.cache_resource(show_spinner=False)
def load_embedder(model: str, backend: str, batch_size: int, _settings: Settings) -> Embedder:
    """The embedding model, once per process (it loads its weights on first use)."""
    return make_embedder(_settings)


@st.cache_resource(show_spinner=False)
def load_knowledge_base(key: str, _settings: Settings) -> KnowledgeBase:
    """One KnowledgeBase per settings (cheap: the model and the index load on first use)."""
    embedder = load_embedder(
        _settings.embed_model, _settings.embed_backend, _settings.embed_batch_size, _settings
    )
    kb = KnowledgeBase(_settings, embedder=embedder)
    with contextlib.suppress(IndexNotFoundError):
        _ = kb.retriever  # built once here: the warm-up thread and the first question share it
    return kb


@st.cache_resource(show_spinner=False)
def _warm_up_thread(key: str, _kb: KnowledgeBase) -> threading.Thread:
    """The one background thread that warms up a knowledge base."""
    thread = threading.Thread(target=_warm_up, args=(_kb,), name="lakesage-warm-up", daemon=True)
    thread.start()
    return thread


def warm_up(kb: KnowledgeBase) -> None:
    """Load the model and the index in the background (once), while the reader types."""
    _warm_up_thread(kb.settings.model_dump_json(), kb)


def _warm_up(kb: KnowledgeBase) -> None:
    """Load the model weights and the index snapshot before the first question needs them."""
    try:
        kb.embedder.embed(["warm up"])
        kb.retriever.snapshot()
    except Exception:  # noqa: BLE001 - best effort: the first question reports any real problem
        pass


def knowledge_base(settings: Settings | None = None) -> KnowledgeBase:
    """The cached KnowledgeBase for the current settings."""
    settings = settings or app_settings()
    try:
        return load_knowledge_base(settings.model_dump_json(), settings)
    except LakesageError as exc:
        stop_with_error(str(exc))


def index_status(kb: KnowledgeBase) -> dict[str, Any] | None:
    """What the index holds, or None when there is no index yet."""
    try:
        return kb.status()
    except IndexNotFoundError:
        return None


@dataclass(frozen=True)
class ChatOptions:
    """What the sidebar picked: persona, product filter, answer engine and passages."""

    persona: str | None
    products: tuple[str, ...]
    engine: str
    llm_base_url: str
    databricks_host: str
    llm_model: str
    top_k: int


def chat_options(settings: Settings) -> ChatOptions:
    """The sidebar choices of this session (settings' defaults before the sidebar ran)."""
    state = st.session_state
    return ChatOptions(
        persona=state.get("persona") or settings.persona,
        products=tuple(state.get("products") or ()),
        engine=state.get("engine") or settings.engine,
        llm_base_url=(state.get("llm_base_url") or "").strip(),
        databricks_host=(state.get("databricks_host") or "").strip(),
        llm_model=(state.get("llm_model") or "").strip(),
        top_k=int(state.get("top_k") or settings.top_k),
    )


def with_llm(kb: KnowledgeBase, options: ChatOptions) -> KnowledgeBase:
    """The knowledge base with the sidebar's choices, sharing the loaded model and index."""
    endpoint = {
        name: value
        for name, value in (
            ("llm_base_url", options.llm_base_url),
            ("databricks_host", options.databricks_host),
            ("llm_model", options.llm_model),
        )
        if value
    }
    if options.engine == "llamacpp":
        # A reader picks no file to load as a model: the local model is the configured one.
        endpoint.pop("llm_model", None)
    persona = {"persona": options.persona} if options.persona else {}
    return kb.with_settings(engine=options.engine, top_k=options.top_k, **persona, **endpoint)


def sidebar(kb: KnowledgeBase, settings: Settings) -> None:
    """Persona, product filter, answer engine and passages; then what the index holds."""
    state = st.session_state
    for key in SIDEBAR_KEYS:
        if key in state:
            state[key] = state[key]  # keeps the choices when the reader switches pages
    with st.sidebar:
        try:
            personas = kb.personas()
        except LakesageError as exc:
            st.error(str(exc))
            personas = []
        if state.get("persona") not in personas:
            state["persona"] = settings.persona if settings.persona in personas else None
        st.selectbox("Persona", personas, key="persona")
        status = index_status(kb)
        products = sorted(status["products"]) if status else []
        state["products"] = [p for p in state.get("products", []) if p in products]
        st.multiselect("Products", products, key="products", placeholder="All products")
        if state.get("engine") not in ENGINES:
            state["engine"] = settings.engine if settings.engine in ENGINES else ENGINES[0]
        engine = st.selectbox("Answer engine", ENGINES, key="engine")
        if engine == "llamacpp":
            st.caption(
                escape_markdown(f"Local model: {settings.llm_model}")
                if settings.llm_model
                else "Set LAKESAGE_LLM_MODEL to a .gguf file to answer with a local model."
            )
        elif engine != "extractive":
            state.setdefault("llm_base_url", settings.llm_base_url or "")
            state.setdefault("databricks_host", settings.databricks_host or "")
            state.setdefault("llm_model", settings.llm_model or "")
            if engine == "databricks":
                st.text_input(
                    "Databricks host", key="databricks_host", placeholder=DATABRICKS_EXAMPLE
                )
            else:
                example = OLLAMA_URL if engine == "ollama" else "http://127.0.0.1:8000/v1"
                st.text_input("LLM base URL", key="llm_base_url", placeholder=example)
            st.text_input("LLM model", key="llm_model")
        state.setdefault("top_k", settings.top_k)
        st.slider("Passages", 1, max(20, settings.top_k), key="top_k")
        show_status(status, settings)


def show_status(status: dict[str, Any] | None, settings: Settings) -> None:
    """Files and chunks per product, the embedding model and the last ingest."""
    st.subheader("Index", divider="gray")
    if status is None:
        st.info(f"No index in {settings.home} yet: add documents on the Ingest page.")
        return
    st.caption(
        escape_markdown(f"{status['files']} files, {status['chunks']} chunks; {status['model']}")
    )
    if status["products"]:
        st.dataframe(
            [{"product": p, **counts} for p, counts in status["products"].items()],
            hide_index=True,
        )
    last = status.get("last_run") or {}
    if finished := last.get("finished_at"):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(finished)))
        st.caption(escape_markdown(f"Last ingest: {when}"))


def escape_markdown(text: str) -> str:
    """Text that Markdown shows literally: every punctuation character backslash-escaped."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def passage_markdown(text: str, spans: list[tuple[int, int]]) -> str:
    """A passage as literal Markdown text, line breaks and indents kept, spans highlighted."""
    lines: list[list[tuple[str, bool]]] = [[]]
    position = 0
    for start, end in [*spans, (len(text), len(text))]:
        for piece, marked in ((text[position:start], False), (text[start:end], True)):
            for i, part in enumerate(piece.split("\n")):
                if i:
                    lines.append([])
                if part:
                    lines[-1].append((part, marked))
        position = end
    return "  \n".join(_line_markdown(parts) for parts in lines)


def _line_markdown(parts: list[tuple[str, bool]]) -> str:
    """One line: its indent as no-break spaces, highlighted parts on an orange background."""
    out = []
    for i, (part, marked) in enumerate(parts):
        if i == 0:
            body = part.lstrip(" \t")
            out.append(part[: len(part) - len(body)].replace("\t", "    ").replace(" ", "\u00a0"))
            part = body
        core = part.strip()
        if marked and core:
            lead = part[: len(part) - len(part.lstrip())]
            trail = part[len(part.rstrip()) :]
            out.append(f"{lead}:orange-background[{escape_markdown(core)}]{trail}")
        else:
            out.append(escape_markdown(part))
    return "".join(out)


def safe_answer(text: str) -> str:
    """Answer Markdown with images disarmed: a quoted or generated image must not load a URL."""
    return text.replace("![", "!\\[")


def safe_pieces(pieces: Any) -> Any:
    """The streamed answer pieces, images disarmed even when '!' and '[' arrive apart."""
    held = ""
    for piece in pieces:
        text = safe_answer(held + piece)
        held = "!" if text.endswith("!") else ""
        yield text[:-1] if held else text
    if held:
        yield held


def is_web_url(url: str | None) -> bool:
    """Only http(s) links are offered (a document could name a javascript: URL)."""
    return bool(url) and str(url).lower().startswith(("http://", "https://"))


def show_unverified(answer: Answer) -> None:
    """A warning badge for names an LLM answer quotes that neither its passages nor the index
    hold: likely made up."""
    if answer.unverified:
        names = ", ".join(answer.unverified)
        st.badge("Unverified names", icon=":material/warning:", color="orange")
        st.caption(escape_markdown(f"Not in the passages or the index: {names}"))


def show_sources(answer: Answer) -> None:
    """The cited passages, numbered like the citations, with the cited sentences highlighted."""
    cited = answer.cited_hits()
    if answer.refused or not cited:
        return
    claims = cited_claims(answer)
    st.caption("Sources")
    for n, hit in cited:
        label = f"[{n}] {hit.release} · {hit.heading_path or hit.title or hit.source}"
        if hit.page:
            label += f", page {hit.page}"
        with st.expander(escape_markdown(label)):
            st.badge(escape_markdown(hit.product or "docs"), color=_color(hit.product))
            where = hit.source + (f", page {hit.page}" if hit.page else "")
            st.caption(escape_markdown(where))
            if is_web_url(hit.url):
                st.link_button("Open upstream", str(hit.url), icon=":material/open_in_new:")
            spans = highlight_spans(hit.text, claims.get(n, []))
            st.markdown(passage_markdown(hit.text, spans))


def _color(product: str) -> Any:
    """The badge colour of a product."""
    return PRODUCT_COLORS.get(product, "gray")


@dataclass
class IngestJob:
    """One ingest running in a background thread; the pages poll its report."""

    specs: list[SourceSpec]
    report: Report = field(default_factory=Report)
    error: str | None = None
    done: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: float = field(default_factory=time.time)

    def run(self, settings: Settings, embedder: Embedder) -> None:
        """The pipeline over the specs; any failure ends up in `error`, never in the thread."""
        try:
            self.report = Pipeline(settings, embedder).run(self.specs, progress=self._progress)
        except LakesageError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a thread's exception would vanish unseen
            self.error = f"the ingest stopped unexpectedly ({type(exc).__name__}: {exc})"
        finally:
            self.done = True

    def _progress(self, report: Report) -> None:
        self.report = report


@dataclass
class IngestJobs:
    """The ingest jobs of this process, one per home folder, shared by every session."""

    jobs: dict[str, IngestJob] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self, home: Path) -> IngestJob | None:
        """The running or last finished job for a home folder."""
        return self.jobs.get(str(home))

    def start(self, settings: Settings, embedder: Embedder, specs: list[SourceSpec]) -> IngestJob:
        """Start a job unless one is already running for this home folder."""
        with self.lock:
            job = self.jobs.get(str(settings.home))
            if job is not None and not job.done:
                raise LakesageError("an ingest is already running here; wait for it to finish")
            job = self.jobs[str(settings.home)] = IngestJob(specs)
        threading.Thread(
            target=job.run, args=(settings, embedder), name="lakesage-ingest", daemon=True
        ).start()
        return job


@st.cache_resource(show_spinner=False)
def ingest_jobs() -> IngestJobs:
    """The process-wide ingest job registry."""
    return IngestJobs()


def save_uploads(folder: Path, files: list[Any]) -> list[str]:
    """Write uploaded files into the uploads folder under their base names; returns the names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for upload in files:
        name = Path(upload.name).name
        if not name or name.startswith("."):
            continue
        (folder / name).write_bytes(upload.getvalue())
        names.append(name)
    return names
