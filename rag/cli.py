"""The `rag` command: ask, search, personas and eval over the index."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.deprecations import notes
from rag.errors import LakesageError
from rag.evaluate import FIGURE_HELP, evaluate, is_gold, read_questions, rows_as_dicts
from rag.kb import KnowledgeBase
from rag.models import Answer, Hit
from rag.retrieval import Filters
from rag.settings import ENGINES, load_settings


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its four subcommands."""
    parser = argparse.ArgumentParser(prog="rag", description="Ask lakesage's index questions.")
    parser.add_argument(
        "--home", type=Path, help="data folder (default $LAKESAGE_HOME or ./.lakesage)"
    )
    parser.add_argument("--config", type=Path, help="settings file (default ./lakesage.toml)")
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="ask, search, personas, eval or mcp",
    )

    ask = sub.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question", help="the question")
    ask.add_argument("--persona", help="persona card name (see `rag personas`)")
    ask.add_argument("--engine", choices=ENGINES, help="answer engine (default: the settings')")
    _filters(ask)
    ask.add_argument(
        "--json", action="store_true", help="print the answer, citations and hits as JSON"
    )

    search = sub.add_parser("search", help="show the ranked passages for a question")
    search.add_argument("question", help="the question")
    search.add_argument("--k", type=int, default=5, help="number of passages (default 5)")
    _filters(search)
    search.add_argument("--json", action="store_true", help="print the hits as JSON")

    sub.add_parser("personas", help="list the persona cards")

    mcp = sub.add_parser(
        "mcp",
        help="serve the index to coding agents (MCP; stdio unless --http)",
        description="Serve search_docs, ask, lookup_symbol and list_sources to MCP clients.",
    )
    mcp.add_argument(
        "--http",
        metavar="[HOST:]PORT",
        help="streamable HTTP at /mcp instead of stdio (host 127.0.0.1 unless given; another "
        "host needs LAKESAGE_MCP_TOKEN, sent as `Authorization: Bearer`)",
    )

    ev = sub.add_parser(
        "eval",
        help="evaluate retrieval and answers on a questions file",
        description="Evaluate retrieval and answers on a questions file.",
        epilog=_eval_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument(
        "questions", type=Path, help="JSONL questions (the format of shared/eval/dev.jsonl)"
    )
    ev.add_argument(
        "--k", type=int, default=10, help="passages retrieved per question (default 10)"
    )
    ev.add_argument("--engine", choices=ENGINES, help="answer engine to evaluate")
    ev.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ev.add_argument(
        "--mlflow", metavar="URI", nargs="?", const="", help="log the run to MLflow (tracking URI)"
    )
    return parser


def _eval_epilog() -> str:
    """What each figure measures, then the gold rule (is_gold's docstring, the one source)."""
    figures = "\n".join(
        textwrap.fill(text, 92, initial_indent=f"  {name:<22} ", subsequent_indent=" " * 25)
        for name, text in FIGURE_HELP.items()
    )
    rule = inspect.getdoc(is_gold) or ""
    return f"figures:\n{figures}\n\ngold passages:\n{textwrap.indent(rule, '  ')}"


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--product", action="append", default=[], help="only this product (repeatable)"
    )
    parser.add_argument(
        "--source", action="append", default=[], help="only sources under this path prefix"
    )
    parser.add_argument(
        "--version", action="append", default=[], help="only this version (repeatable)"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rag` console script."""
    args = build_parser().parse_args(argv)
    try:
        code = _run(args)
        sys.stdout.flush()  # a pipe that closed fails here, not in Python's exit
        return code
    except LakesageError as exc:
        print(f"rag: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader stopped reading (`rag ask ... | head`): stop quietly, and keep Python's
        # own flush of stdout at exit from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; its exit status."""
    settings = load_settings(args.config, home=args.home)
    if args.command == "mcp":
        from rag.mcp_server import serve  # the SDK is the optional extra [mcp]

        serve(settings, args.http)
        return 0
    kb = KnowledgeBase(settings)
    if args.command == "personas":
        for name in kb.personas():
            print(name)
        return 0
    if args.command == "search":
        hits = kb.search(args.question, args.k, _to_filters(args))
        print(json.dumps([_hit_json(h) for h in hits], indent=2) if args.json else _hits_text(hits))
        return 0
    if args.command == "ask":
        return _ask(kb, args)
    return _eval(kb, args)


def _to_filters(args: argparse.Namespace) -> Filters:
    return Filters(tuple(args.product), tuple(args.source), tuple(args.version))


def _ask(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    """Stream the answer to the terminal, then list the cited sources."""
    stream = kb.ask_stream(
        args.question, persona=args.persona, engine=args.engine, filters=_to_filters(args)
    )
    if args.json:
        for _ in stream:
            pass
        assert stream.answer is not None
        print(json.dumps(_answer_json(stream.answer), indent=2))
        return 0
    streamed = []
    for piece in stream:
        streamed.append(piece)
        print(piece, end="", flush=True)
    answer = stream.answer
    assert answer is not None
    print("" if answer.text.endswith("\n") else "\n")  # one blank line before the sources
    shown = "".join(streamed)
    if (late := notes(answer.deprecated)) and late not in shown:
        print(late, end="")  # an LLM's answer: known once it had cited, after its text
    for line in answer.late_lines(shown):  # likewise its releases and where they differ
        print(f"{line}\n")
    if answer.citations:
        print("Sources:")
        for n, hit in answer.cited_hits():
            print(f"  [{n}] {hit.citation}")
    return 0


def _hits_text(hits: list[Hit]) -> str:
    lines = []
    for n, hit in enumerate(hits, 1):
        lines.append(f"[{n}] {hit.score:.4f} {hit.product}: {hit.citation}")
        lines.append("    " + hit.text[:300].replace("\n", "\n    "))
    return "\n".join(lines) if lines else "no passages found"


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "id": hit.id,
        "score": hit.score,
        "text": hit.text,
        "release": hit.release,
        **hit.metadata,
    }


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "answer": answer.text,
        "refused": answer.refused,
        "unknown_names": answer.unknown,
        "unverified_names": answer.unverified,
        "deprecated": [asdict(entry) for entry in answer.deprecated],
        "differences": answer.differences,
        "engine": answer.engine,
        "persona": answer.persona,
        "citations": [{"n": n, **_hit_json(h)} for n, h in answer.cited_hits()],
        "hits": [_hit_json(h) for h in answer.hits],
    }


def _eval(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    """Run the harness and print (and optionally log) its figures."""
    questions = read_questions(args.questions)
    figures, rows = evaluate(kb, questions, k=args.k, engine=args.engine)
    if args.mlflow is not None:
        from rag.tracking import log_to_mlflow

        figures["mlflow_run_id"] = log_to_mlflow(
            kb.settings, figures, rows_as_dicts(rows), args.mlflow
        )
    if args.json:
        print(json.dumps(figures))
        return 0
    for name, value in figures.items():
        print(f"{name:>24}: {value}")
    missed = [r for r in rows if r.answerable and (r.gold_rank is None or r.gold_rank > 5)]
    if missed:
        print("missed at 5:")
        for r in missed:
            print(f"  {r.id}: {r.question[:80]} -> {', '.join(r.retrieved[:3])}")
    return 0
