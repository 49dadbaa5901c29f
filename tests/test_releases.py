"""Releases side by side: two delta-spark releases in one home, filtered, pinned and compared."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from rag.kb import KnowledgeBase
from rag.mcp_server import Tools
from rag.models import Hit
from rag.releases import release_line, signature, version_key
from tests.commands import run
from tests.fake_packages import make_wheel
from tests.llm_servers import MODEL, Server, openai_route

QUESTION = "What does DeltaTable.vacuum do?"
INIT = 'from delta.tables import DeltaTable\n\n__all__ = ["DeltaTable"]\n'
TABLES = '''\
class DeltaTable:
    """A Delta table."""

    def vacuum(self, {params}) -> None:
        """Remove files the table no longer needs, older than the retention threshold.

        The threshold defaults to {days} days.
        """
'''


def delta_wheel(folder: Path, version: str, params: str, days: int) -> None:
    """A delta-spark wheel of our own whose DeltaTable.vacuum takes `params`."""
    files = {"delta/__init__.py": INIT, "delta/tables.py": TABLES.format(params=params, days=days)}
    make_wheel(folder, files, name="delta-spark", version=version)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding delta-spark 3.3.2 and 4.0.0, whose vacuum signatures differ."""
    root = tmp_path_factory.mktemp("releases")
    wheels = root / "wheels"
    wheels.mkdir()
    delta_wheel(wheels, "3.3.2", "retentionHours=None", 7)
    delta_wheel(wheels, "4.0.0", "retentionHours=None, dryRun=False", 7)
    done = run(
        "ingest",
        "pypi:delta-spark==3.3.2",
        "pypi:delta-spark==4.0.0",
        home=root / "home",
        cwd=root,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels),
        LAKESAGE_EMBED_BACKEND="hash",
    )
    assert done.returncode == 0, done.stderr
    return root / "home"


def ask(home: Path, *args: str, **env: str) -> dict[str, object]:
    """`rag ask --json` on the home (hashed vectors mean nothing: no refusal threshold)."""
    env = {"LAKESAGE_REFUSAL_THRESHOLD": "-10", **env}
    done = run("rag", "ask", "--json", *args, QUESTION, home=home, cwd=home.parent, **env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_a_filtered_ask_answers_from_that_release_and_names_it(home: Path) -> None:
    answer = ask(home, "--version", "3.3.2")
    hits = answer["hits"]
    assert isinstance(hits, list) and hits
    assert {hit["version"] for hit in hits} == {"3.3.2"}
    text = str(answer["answer"])
    assert "Release: Delta Lake 3.3.2." in text
    assert "4.0.0" not in text and "dryRun" not in text


def test_an_answer_about_a_symbol_whose_signature_differs_names_both_releases(
    home: Path,
) -> None:
    text = str(ask(home)["answer"])
    assert (
        "`delta.DeltaTable.vacuum` differs across releases: "
        "Delta Lake 3.3.2: `def vacuum(self, retentionHours=None) -> None`; "
        "Delta Lake 4.0.0: `def vacuum(self, retentionHours=None, dryRun=False) -> None`."
    ) in text


def test_an_llm_answer_citing_a_symbol_whose_signature_differs_names_both_releases(
    home: Path,
) -> None:
    words = ["It removes old files: ", "`vacuum(retentionHours=None)` [1]."]
    server = Server(openai_route(words, key=None))
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    llm = {"LAKESAGE_LLM_BASE_URL": f"{server.url}/v1", "LAKESAGE_LLM_MODEL": MODEL}
    try:
        answer = ask(home, "--engine", "openai", **llm)
        env = {"LAKESAGE_REFUSAL_THRESHOLD": "-10", **llm}
        printed = run(
            "rag", "ask", "--engine", "openai", QUESTION, home=home, cwd=home.parent, **env
        )
        filtered = ask(home, "--engine", "openai", "--version", "4.0.0", **llm)
    finally:
        server.shutdown()
        server.server_close()
    line = (
        "`delta.DeltaTable.vacuum` differs across releases: "
        "Delta Lake 3.3.2: `def vacuum(self, retentionHours=None) -> None`; "
        "Delta Lake 4.0.0: `def vacuum(self, retentionHours=None, dryRun=False) -> None`."
    )
    assert answer["differences"] == [line]
    assert str(answer["answer"]).index(line) > str(answer["answer"]).index("[1].")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.count(line) == 1  # printed after the streamed text, once
    assert filtered["differences"] == [] and line not in str(filtered["answer"])


def test_the_pinned_release_leads_and_the_answer_says_so(home: Path) -> None:
    for pinned in ("3.3.2", "4.0.0"):
        answer = ask(home, LAKESAGE_RELEASES=json.dumps({"delta": pinned}))
        hits = answer["hits"]
        assert isinstance(hits, list)
        assert hits[0]["version"] == pinned
        assert f"Release: Delta Lake {pinned} (pinned)." in str(answer["answer"])


def test_signature_leaves_out_decorators() -> None:
    text = "```python\n@since(0.4)\ndef vacuum(self,\n    hours=None) -> DataFrame\n```\n\nDoc."
    assert signature(text) == "def vacuum(self, hours=None) -> DataFrame"
    assert signature("No code here.") is None


def test_versions_sort_as_numbers() -> None:
    assert sorted(["3.10.0", "3.9.1", "4.0.0rc1", "4.0.0"], key=version_key)[:2] == [
        "3.9.1",
        "3.10.0",
    ]


def test_release_line_names_each_release_once() -> None:
    def hit(product: str, version: str | None) -> Hit:
        meta = {"product": product, **({"version": version} if version else {})}
        return Hit("x", "text", 1.0, meta)

    assert release_line([hit("delta", "3.3.2"), hit("delta", "3.3.2")], {}) == (
        "Release: Delta Lake 3.3.2."
    )
    assert release_line([hit("delta", "3.3.2"), hit("spark", "4.0.1")], {"delta": "3.3.2"}) == (
        "Releases: Delta Lake 3.3.2 (pinned), Spark 4.0.1."
    )
    assert release_line([hit("team", None)], {}) == ""


def test_mcp_tools_take_a_release_and_show_where_signatures_differ(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESAGE_REFUSAL_THRESHOLD", "-10")
    tools = Tools(KnowledgeBase.open(home))
    cited = tools.ask(QUESTION, version="3.3.2")
    assert cited.citations and {p.version for p in cited.citations} == {"3.3.2"}
    found = tools.lookup_symbol("DeltaTable.vacuum")
    assert sorted(str(e.version) for e in found.entries) == ["3.3.2", "4.0.0"]
    assert found.message.startswith("`delta.DeltaTable.vacuum` differs across releases: ")
