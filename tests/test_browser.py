"""End to end: `streamlit run app.py` on loopback, driven by Debian's chromium through Playwright."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.pipeline import Pipeline
from ingest.sources import SourceSpec
from rag.settings import load_settings
from tests.commands import stop
from tests.conftest import CHROMIUM

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-proxy-server",
]
CHECK_QUESTION = "Which exception does Delta raise when a CHECK constraint is violated?"
WARM_QUESTION = "How do I drop a CHECK constraint from a Delta table?"
XSS_QUESTION = "What does the quarantine bucket policy say about raw uploads?"
SCRIPT_PAYLOAD = "<script>window.__xss=1</script>"
IMG_PAYLOAD = '<img src=x onerror="window.__xss=2">'
XSS_NOTE = f"""# Quarantine bucket policy

Raw uploads land in the quarantine bucket for 72 hours before promotion to bronze.
A reviewer pasted this sample into the ticket: {SCRIPT_PAYLOAD} and it must show as text.

The second sample from the same ticket, kept verbatim:

```html
{IMG_PAYLOAD}
```
"""
# The text of the newest assistant message, as soon as any of it is on screen.
ANSWER_TEXT = """(n) => {
  const messages = document.querySelectorAll('[data-testid="stChatMessage"]');
  if (messages.length < n) return false;
  const content = messages[n - 1].querySelector('[data-testid="stChatMessageContent"]');
  return content !== null && content.innerText.trim().length > 0;
}"""

NEW_FIGURES = ("answer_chars_p50", "lead_keyword_recall", "gold_piece_share")
WIDE_QUESTION = "How does every notebook start its Spark session with the team defaults?"
WIDE_CALL = "".join(f'.config("spark.team.default.{n}", "value-{n}")' for n in range(12))
WIDE_NOTE = f"""# Spark session defaults

Every notebook starts its Spark session with the team defaults, in one builder call:

```python
spark = SparkSession.builder.appName("nightly-bronze"){WIDE_CALL}.getOrCreate()
```
"""
# The page's width and, for each code block in the chat, its full and its visible width.
WIDTHS = """() => ({
  page: document.documentElement.scrollWidth,
  window: document.documentElement.clientWidth,
  code: [...document.querySelectorAll('[data-testid="stChatMessage"] pre')].map(
    (pre) => [pre.scrollWidth, pre.clientWidth]
  ),
})"""

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's chromium; missing is a failure under CI, a skip elsewhere."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found; apt-get install -y chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path, embedder: Any) -> Path:
    """An index of Delta's constraints page (with its upstream URL from the MANIFEST) and a team
    note with a long line of code."""
    root = tmp_path_factory.mktemp("browser-corpus")
    rel = "delta/docs/delta-constraints.mdx"
    (root / rel).parent.mkdir(parents=True)
    shutil.copy(shared_corpus / rel, root / rel)
    shutil.copy(shared_corpus / "MANIFEST.tsv", root / "MANIFEST.tsv")
    notes = tmp_path_factory.mktemp("browser-notes")
    (notes / "spark-session-defaults.md").write_text(WIDE_NOTE, encoding="utf-8")
    home = tmp_path_factory.mktemp("browser-home")
    report = Pipeline(load_settings(home=home), embedder).run(
        [SourceSpec(str(root)), SourceSpec(str(notes), name="notes", product="team")]
    )
    assert report.files_indexed == 2 and not report.failures
    return home


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Poll the server's health endpoint until it answers (or the server dies)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer at {url} within {timeout:g} s")


@pytest.fixture(scope="module")
def server(chromium: Path, home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port over the index; yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKESAGE_")}
    env.update(
        LAKESAGE_HOME=str(home),
        NO_PROXY="127.0.0.1,localhost",
        LAKESAGE_TEST_CORPUS=os.environ.get("LAKESAGE_TEST_CORPUS", ""),
    )
    log = (tmp_path_factory.mktemp("browser-log") / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "streamlit"),
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            # The repo holds .venv: watching it floods inotify and slows every page load.
            "--server.fileWatcherType",
            "none",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", proc)
        yield url
    finally:
        stop(proc, timeout=15)
        log.close()


@pytest.fixture(scope="module")
def browser(server: str, chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def new_page(browser: Any) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.set_default_timeout(90_000)
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    return page


def ask_timed(page: Any, url: str, question: str, n: int = 2) -> dict[str, float]:
    """Load the page, ask, and time it: page load to input ready, to the first answer words."""
    started = time.perf_counter()
    page.goto(url)
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for()
    ready = time.perf_counter()
    box.fill(question)
    box.press("Enter")
    submitted = time.perf_counter()
    page.wait_for_function(ANSWER_TEXT, arg=n, polling=50)
    first = time.perf_counter()
    return {
        "page_load_to_input_s": round(ready - started, 3),
        "submit_to_first_words_s": round(first - submitted, 3),
        "page_load_to_first_words_s": round(first - started, 3),
    }


def answer_done(page: Any, n: int = 2) -> Any:
    """The nth chat message once its sources are shown (the stream has ended)."""
    message = page.get_by_test_id("stChatMessage").nth(n - 1)
    message.get_by_text("Sources").wait_for()
    return message


def test_question_streams_an_answer_with_sources_cold_and_warm(
    browser: Any, server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = new_page(browser)
    cold = ask_timed(page, server, CHECK_QUESTION)
    message = answer_done(page)
    assert (
        "InvariantViolationException"
        in message.get_by_test_id("stChatMessageContent").first.inner_text()
    )
    source = message.get_by_test_id("stExpander").first
    assert "Constraints" in source.inner_text()
    source.locator("summary").click()
    source.get_by_text("delta/docs/delta-constraints.mdx").wait_for()
    assert (
        source.get_by_role("link", name="Open upstream")
        .get_attribute("href")
        .startswith("https://github.com/delta-io/delta/")
    )
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    page.close()

    page = new_page(browser)
    warm = ask_timed(page, server, WARM_QUESTION)
    message = answer_done(page)
    assert "DROP CONSTRAINT" in message.inner_text()
    page.screenshot(path=str(tmp_path / "chat-warm.png"), full_page=True)
    page.close()

    timings = {"cold": cold, "warm": warm, "file_watcher": "none"}
    (tmp_path / "timings.json").write_text(json.dumps(timings, indent=2))
    with capsys.disabled():  # shown in the test output without -s
        print(f"\ntime to first words ({tmp_path / 'timings.json'}): {json.dumps(timings)}")
    assert (tmp_path / "chat.png").stat().st_size > 10_000


def test_uploaded_document_text_never_runs_as_html(
    browser: Any, server: str, tmp_path: Path
) -> None:
    note = tmp_path / "quarantine-policy.md"
    note.write_text(XSS_NOTE, encoding="utf-8")
    page = new_page(browser)
    page.goto(f"{server}/ingest")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(note))
    page.get_by_text("quarantine-policy.md").first.wait_for()
    page.get_by_role("button", name="Ingest", exact=True).click()
    page.get_by_text("Ingest finished").wait_for()
    assert "1 files indexed" in page.get_by_test_id("stAlert").first.inner_text()

    page.get_by_role("link", name="Chat").click()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(XSS_QUESTION)
    box.press("Enter")
    message = answer_done(page)
    for summary in message.locator("summary").all():
        summary.click()
    source = message.get_by_test_id("stExpander").first
    source.get_by_test_id("stCode").get_by_text(IMG_PAYLOAD).wait_for()  # the passage's code
    source.get_by_text("must show as text").wait_for()
    page.screenshot(path=str(tmp_path / "xss.png"), full_page=True)

    text = message.inner_text()
    assert SCRIPT_PAYLOAD in text and IMG_PAYLOAD in text  # shown literally
    assert "```" not in text  # the passage's code block is a code block, not its fence marks
    assert page.evaluate("window.__xss") is None  # and nothing ran
    assert page.locator('img[src="x"]').count() == 0
    assert not page.evaluate("[...document.scripts].some(s => s.textContent.includes('__xss'))")
    page.close()


def test_evaluation_shows_the_answer_figures(browser: Any, server: str, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "check",
            "question": CHECK_QUESTION,
            "gold_docs": ["delta/docs/delta-constraints.mdx"],
            "keywords": ["InvariantViolationException"],
            "product": "delta",
        },
        {"id": "bread", "question": "How do I bake sourdough bread?", "answerable": False},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = new_page(browser)
    page.goto(f"{server}/evaluate")
    path = page.get_by_label("Questions file (JSONL)")
    path.fill(str(questions))
    path.press("Enter")
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_text("Per question (extractive)").wait_for()
    grids = page.get_by_test_id("stMain").get_by_test_id("stDataFrame")
    figures, per_question = grids.nth(0), grids.nth(1)
    # The grids draw on a canvas; the cells on screen are mirrored in a table inside it.
    figures.locator("td", has_text="gold_piece_share").wait_for(state="attached")
    shown = figures.locator("td").all_text_contents()
    # Every figure is on screen, the new ones too, with no scrolling inside the table.
    for name in ("hit@1", "citation_validity", *NEW_FIGURES, "latency_p95_ms"):
        assert name in shown, (name, shown)
        value = shown[shown.index(name) + 1]
        assert value and value != "-", (name, value)
    assert float(shown[shown.index("gold_piece_share") + 1]) > 0
    per_question.locator("th", has_text="gold pieces").wait_for(state="attached")
    headers = per_question.locator("th").all_text_contents()
    assert {"answer chars", "lead keyword recall", "gold pieces"} <= set(headers), headers
    first = per_question.locator("tbody tr").first.locator("td").all_text_contents()
    row = dict(zip(headers, first, strict=False))
    assert row["id"] == "check" and int(row["answer chars"]) > 0 and int(row["gold pieces"]) > 0
    page.screenshot(path=str(tmp_path / "evaluate.png"), full_page=True)
    page.close()


def test_the_navigation_names_the_pages_and_offers_no_deploy(browser: Any, server: str) -> None:
    page = new_page(browser)
    page.goto(server)
    page.get_by_test_id("stChatInputTextArea").wait_for()
    links = page.get_by_test_id("stSidebarNav").get_by_test_id("stSidebarNavLink")
    titles = [link.inner_text().split()[-1] for link in links.all()]  # after the icon's name
    assert titles == ["Chat", "Ingest", "Evaluate"]
    assert page.title() == "Chat · lakesage"
    links.filter(has_text="Evaluate").click()
    page.get_by_role("heading", name="Evaluate").wait_for()
    assert page.title() == "Evaluate · lakesage" and page.url == f"{server}/evaluate"
    # The app is served on loopback, where Streamlit would show a developer's toolbar.
    assert page.get_by_test_id("stAppDeployButton").count() == 0
    assert page.get_by_role("button", name="Deploy").count() == 0
    assert page.get_by_test_id("stMainMenu").count() == 0
    page.close()


def test_wide_code_scrolls_inside_its_block(browser: Any, server: str, tmp_path: Path) -> None:
    page = new_page(browser)
    ask_timed(page, server, WIDE_QUESTION)
    message = answer_done(page)
    for summary in message.locator("summary").all():
        summary.click()
    message.get_by_test_id("stExpander").get_by_test_id("stCode").first.wait_for()
    page.screenshot(path=str(tmp_path / "wide-code.png"), full_page=True)
    for width in (1280, 480):  # a desktop, then a phone, where the sidebar folds away
        page.set_viewport_size({"width": width, "height": 1600})
        page.wait_for_timeout(500)
        widths = page.evaluate(WIDTHS)
        assert widths["page"] <= widths["window"], widths  # the page does not scroll sideways
        wide = [full for full, shown in widths["code"] if full > shown]
        assert len(wide) >= 2, widths  # the answer's code and the passage's, each scrolling
    page.screenshot(path=str(tmp_path / "wide-code-phone.png"), full_page=True)
    page.close()
