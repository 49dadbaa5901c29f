"""The installed `rag` console script, run as a subprocess against a small real index."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rag.cli import build_parser
from rag.settings import Settings
from tests.commands import command_env, run_rag
from tests.indexes import ON_CORPUS, REGISTER, REGISTER_NOTE, build_legacy_index, build_small_index
from tests.llm_servers import MODEL, Server, openai_route

BIN = Path(sys.executable).parent
FIFA = "Who won the 2018 FIFA World Cup?"
SECRET = "sk-cli-secret-4242424242"
FIGURE_KEYS = {
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "mrr@10",
    "passage_hit@5",
    "answer_keyword_recall",
    "refusal_rate",
    "false_refusal_rate",
    "citation_validity",
    "answer_chars_p50",
    "lead_keyword_recall",
    "gold_piece_share",
    "latency_p50_ms",
    "latency_p95_ms",
}
QUESTIONS = [
    {
        "id": "cm",
        "question": ON_CORPUS,
        "gold_docs": ["delta/docs/delta-column-mapping.mdx"],
        "keywords": ["delta.columnMapping.mode"],
        "product": "delta",
    },
    {
        "id": "jdbc",
        "question": "How do I set the JDBC fetchsize option?",
        "gold_docs": ["spark/docs/sql-data-sources-jdbc.md"],
        "keywords": ["fetchsize"],
        "product": "spark",
    },
    {"id": "fifa", "question": FIFA, "answerable": False},
]
HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path, embedder: Any
) -> dict[str, Any]:
    """The index, a questions file, and every command that loads the model, run at once."""
    base = tmp_path_factory.mktemp("rag-cli")
    home = build_small_index(base, shared_corpus, embedder).home
    legacy = build_legacy_index(base / "legacy", embedder).home
    questions = base / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    cwd = base / "cwd"
    cwd.mkdir()
    commands: dict[str, tuple[str, ...]] = {}
    if HAS_MLFLOW:  # the slowest run goes first
        commands["eval_mlflow"] = ("eval", str(questions), "--json", "--mlflow")
    commands |= {
        "ask": ("ask", ON_CORPUS),
        "ask_json": ("ask", "--json", ON_CORPUS),
        "search_json": ("search", "--k", "3", "--json", "InvariantViolationException"),
        "search_spark": ("search", "--product", "spark", "How do I set the JDBC fetch size?"),
        "eval_json": ("eval", str(questions), "--json"),
        "ask_deprecated": ("ask", REGISTER),
        "ask_deprecated_json": ("ask", "--json", REGISTER),
    }
    homes = {"ask_deprecated": legacy, "ask_deprecated_json": legacy}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            name: pool.submit(
                run_rag, *args, home=homes.get(name, home), cwd=cwd, LAKESAGE_LLM_API_KEY=SECRET
            )
            for name, args in commands.items()
        }
        done = {name: future.result() for name, future in futures.items()}
    return {"home": home, "legacy": legacy, "cwd": cwd, "questions": questions, **done}


def ok(runs: dict[str, Any], name: str) -> str:
    """The stdout of a run that must have succeeded quietly."""
    done: subprocess.CompletedProcess[str] = runs[name]
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_ask_prints_the_answer_and_its_sources(runs: dict[str, Any]) -> None:
    out = ok(runs, "ask")
    assert out.startswith("As a Databricks developer:\n\n")
    body, sources = out.split("\nSources:\n")
    assert "`delta.columnMapping.mode`" in body
    cited = list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", body)))
    lines = sources.rstrip("\n").split("\n")
    assert [int(re.match(r"  \[(\d+)\] ", line).group(1)) for line in lines] == cited  # type: ignore[union-attr]
    assert cited and cited[0] == 1
    first = lines[0]
    assert re.match(r"  \[1\] Delta Lake [\d.]+ · Delta column mapping > ", first), first
    assert "(delta/docs/delta-column-mapping.mdx) <https://github.com/delta-io/delta/blob/" in first


def test_ask_json(runs: dict[str, Any]) -> None:
    data = json.loads(ok(runs, "ask_json"))
    assert set(data) == {
        "question",
        "answer",
        "refused",
        "unknown_names",
        "unverified_names",
        "deprecated",
        "differences",
        "engine",
        "persona",
        "citations",
        "hits",
    }
    assert data["unknown_names"] == data["unverified_names"] == data["deprecated"] == []
    assert data["differences"] == []  # one release of each product indexed
    assert data["question"] == ON_CORPUS and data["refused"] is False
    assert data["engine"] == "extractive" and data["persona"] == "databricks-developer"
    assert len(data["hits"]) == Settings.model_fields["top_k"].default
    assert data["hits"][0]["source"] == "delta/docs/delta-column-mapping.mdx"
    numbers = [c["n"] for c in data["citations"]]
    assert numbers and numbers == list(
        dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", data["answer"]))
    )
    for citation in data["citations"]:
        hit = data["hits"][citation["n"] - 1]
        assert citation["id"] == hit["id"] and citation["text"] == hit["text"]
        assert {"source", "heading_path", "score", "dense_score", "keyword_score"} <= set(citation)


def test_ask_names_a_deprecated_entry_first_with_its_replacement(runs: dict[str, Any]) -> None:
    out = ok(runs, "ask_deprecated")
    assert out.startswith(f"As a Databricks developer:\n\n{REGISTER_NOTE}\n\n")
    assert out.count("is deprecated since") == 1
    data = json.loads(ok(runs, "ask_deprecated_json"))
    assert data["deprecated"] == [
        {
            "symbol": "fakepkg.DataFrame.registerTempTable",
            "since": "2.0.0",
            "use": "DataFrame.createOrReplaceTempView",
            "n": 1,
        }
    ]
    assert data["answer"].startswith(f"As a Databricks developer:\n\n{REGISTER_NOTE}")
    entry = data["citations"][0]
    assert (entry["deprecated"], entry["deprecated_use"], entry["since"]) == (
        "2.0.0",
        "DataFrame.createOrReplaceTempView",
        "1.3.0",
    )


def test_an_llm_answer_prints_its_deprecation_notes_once_it_has_cited(
    runs: dict[str, Any],
) -> None:
    server = Server(openai_route(["Call ", "`registerTempTable(name)` [1]."], key=None))
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        done = run_rag(
            "ask",
            "--engine",
            "openai",
            REGISTER,
            home=runs["legacy"],
            cwd=runs["cwd"],
            LAKESAGE_LLM_BASE_URL=f"{server.url}/v1",
            LAKESAGE_LLM_MODEL=MODEL,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    answer, sources = done.stdout.split("\nSources:\n")
    assert answer == (
        f"Call `registerTempTable(name)` [1].\n\n{REGISTER_NOTE}\n\nRelease: Spark 1.0.\n"
    )
    assert sources.startswith("  [1] Spark 1.0 · fakepkg.DataFrame.registerTempTable (")


def test_search_json_with_k(runs: dict[str, Any]) -> None:
    hits = json.loads(ok(runs, "search_json"))
    assert len(hits) == 3
    assert hits[0]["source"] == "delta/docs/delta-constraints.mdx"
    assert "InvariantViolationException" in hits[0]["text"]
    for hit in hits:
        assert {
            "id",
            "score",
            "text",
            "source",
            "heading_path",
            "product",
            "origin",
            "hash",
        } <= set(hit)
        assert isinstance(hit["dense_score"], float) and isinstance(hit["keyword_score"], float)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_search_product_filter_text(runs: dict[str, Any]) -> None:
    out = ok(runs, "search_spark")
    heads = [line for line in out.splitlines() if not line.startswith("    ")]
    assert len(heads) == _subparsers(build_parser())["search"].get_default("k")
    for n, line in enumerate(heads, 1):
        assert re.match(
            rf"\[{n}\] 0\.\d{{4}} spark: .+ \(spark/docs/[a-z-]+\.md\) <https://", line
        ), line
    assert "sql-data-sources-jdbc.md" in heads[0]
    assert "delta/" not in out and "mlflow/" not in out


def test_eval_json_prints_one_object_with_every_figure(runs: dict[str, Any]) -> None:
    out = ok(runs, "eval_json")
    assert out.count("\n") == 1  # one line
    figures = json.loads(out)
    assert set(figures) >= FIGURE_KEYS
    assert figures["questions"] == 3 and figures["answerable"] == 2
    assert figures["hit@1"] == 1.0 and figures["mrr@10"] == 1.0
    assert figures["refusal_rate"] == 1.0 and figures["false_refusal_rate"] == 0.0
    assert figures["citation_validity"] == 1.0 and figures["answer_keyword_recall"] == 1.0
    assert 0 < figures["latency_p50_ms"] <= figures["latency_p95_ms"]
    assert figures["lead_keyword_recall"] == 1.0 and 0 < figures["gold_piece_share"] <= 1
    assert figures["answer_chars_p50"] > 0
    assert "mlflow_run_id" not in figures


@pytest.mark.skipif(not HAS_MLFLOW, reason="MLflow is not installed")
def test_eval_logs_a_run_to_mlflow(runs: dict[str, Any]) -> None:
    figures = json.loads(ok(runs, "eval_mlflow"))
    run_id = figures["mlflow_run_id"]
    database = runs["home"] / "mlflow.db"
    assert database.is_file()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT status FROM runs WHERE run_uuid = ?", (run_id,)).fetchall() == [
            ("FINISHED",)
        ]
        metrics = dict(db.execute("SELECT key, value FROM metrics WHERE run_uuid = ?", (run_id,)))
        params = dict(db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)))
    assert metrics["hit_at_1"] == 1.0 and metrics["refusal_rate"] == 1.0
    assert metrics["questions"] == 3.0
    assert params["top_k"] == str(Settings.model_fields["top_k"].default)
    assert params["engine"] == "extractive"
    assert "llm_api_key" not in params and SECRET not in params.values()
    assert metrics["gold_piece_share"] == figures["gold_piece_share"] > 0
    [table] = list(runs["home"].rglob("questions.json"))
    logged = json.loads(table.read_text())
    assert [row["id"] for row in logged] == ["cm", "jdbc", "fifa"]
    assert logged[0]["pieces"] >= logged[0]["gold_pieces"] > 0 and logged[0]["answer_chars"] > 0


def test_personas(tmp_path: Path) -> None:
    done = run_rag("personas", home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "databricks-developer\n"


def test_a_reader_that_stops_reading_ends_it_quietly(tmp_path: Path) -> None:
    """`rag ask ... | head`: the pipe closes before the output is written."""
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "wb") as closed:
        done = subprocess.run(
            [str(BIN / "rag"), "personas"],
            stdout=closed,
            stderr=subprocess.PIPE,
            text=True,
            env=command_env(tmp_path / "h"),
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr == ""


@pytest.mark.parametrize(
    "args",
    [("ask", "--json", "anything"), ("search", "anything")],
)
def test_missing_index_says_run_ingest_first(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = run_rag(*args, home=tmp_path / "empty", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"rag: no index in {tmp_path / 'empty'}; run `ingest` first (or set LAKESAGE_HOME)\n"
    )


def test_home_flag_beats_the_environment(tmp_path: Path) -> None:
    done = run_rag(
        "--home", str(tmp_path / "flag"), "search", "x", home=tmp_path / "env", cwd=tmp_path
    )
    assert done.returncode == 1
    assert f"no index in {tmp_path / 'flag'};" in done.stderr


def test_unknown_persona_lists_the_known_ones(runs: dict[str, Any]) -> None:
    done = run_rag("ask", "--persona", "pirate", ON_CORPUS, home=runs["home"], cwd=runs["cwd"])
    assert done.returncode == 1
    assert done.stderr == "rag: unknown persona 'pirate'; available: databricks-developer\n"


def test_invalid_settings_exit_1_naming_the_field(tmp_path: Path) -> None:
    done = run_rag("personas", home=tmp_path / "h", cwd=tmp_path, LAKESAGE_TOP_K="0")
    assert done.returncode == 1
    assert done.stderr.startswith("rag: invalid settings in LAKESAGE_* env vars: top_k: ")


def test_missing_questions_file(tmp_path: Path) -> None:
    done = run_rag("eval", str(tmp_path / "nope.jsonl"), home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"rag: {tmp_path / 'nope.jsonl'}: cannot read questions")


def test_bad_question_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "ok"}\n{"question": \n')
    done = run_rag("eval", str(path), home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"rag: {path}:2: not a question object")


def test_non_object_question_line_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "ok"}\n[1, 2]\n')
    done = run_rag("eval", str(path), home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"rag: {path}:2: ")


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("frobnicate",),
        ("ask",),
        ("search", "q", "--k", "many"),
        ("--no-such-flag", "personas"),
        ("eval",),
        ("ask", "q", "--engine", "gpt"),
    ],
)
def test_bad_usage_exits_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = run_rag(*args, home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: rag")
    assert done.stdout == ""


def test_help_exits_0_and_lists_the_subcommands(tmp_path: Path) -> None:
    done = run_rag("--help", home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 0
    for name in ("ask", "search", "personas", "eval"):
        assert re.search(rf"^    {name} +\S", done.stdout, re.MULTILINE), name
    sub = run_rag("search", "--help", home=tmp_path / "h", cwd=tmp_path)
    assert sub.returncode == 0 and "--product PRODUCT" in sub.stdout


def test_eval_help_says_what_each_figure_measures_and_what_is_gold(tmp_path: Path) -> None:
    done = run_rag("eval", "--help", home=tmp_path / "h", cwd=tmp_path)
    assert done.returncode == 0
    for figure in sorted(FIGURE_KEYS - {f"hit@{k}" for k in (1, 3, 5, 10)} | {"hit@k"}):
        assert re.search(rf"^  {re.escape(figure)} +\S", done.stdout, re.MULTILINE), figure
    rule = " ".join(done.stdout.split("gold passages:", 1)[1].split())
    assert 'metadata "symbol"' in rule
    assert "DeltaTable.vacuum matches delta.tables.DeltaTable.vacuum" in rule
    assert "a plain word such as col, json or collect() names no entry" in rule


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_subcommand_and_option_has_help() -> None:
    parser = build_parser()
    [group] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in parser._actions:
        assert action is group or action.help, action.dest
    described = {choice.dest: choice.help for choice in group._choices_actions}
    subs = _subparsers(parser)
    assert set(subs) == {"ask", "search", "personas", "eval", "mcp"} == set(described)
    assert all(described.values())
    for name, sub in subs.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.dest}"
