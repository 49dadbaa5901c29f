"""Quality on the default index beside a guides-only index: every `rag eval` figure, side by side.

The default index is the README's: `ingest --mirror CORPUS` over the default sources file (team
notes, the upstream guides from the mirror and the API references of the pinned packages). The
guides-only index is `ingest CORPUS`. Each is built in its home folder, or reused when it is
present and current: built with the same embedding model and backend, nothing left half-done,
holding exactly the source files there are now with their present content, and one file of each
source still chunks to the stored chunks and metadata (so a change to ingest/, such as a new
metadata field of API entries, makes it stale). Stale indexes are brought up to date in place;
--rebuild re-embeds everything, --reuse never writes to the homes.

    python bench/quality.py ../shared/eval/dev.jsonl [bench/questions/*.jsonl ...] \
        --corpus ../shared/corpus \
        [--default-home .lakesage-bench/default] [--guides-home .lakesage-bench/guides] \
        [--backend onnx-int8] [--rebuild | --reuse]

For each questions file, prints a Markdown table (figure | default | guides-only) and one JSON
line with both and the machine (bench/machine.py: figures move with the CPU's int8 kernels): the
held-out sets in bench/questions/ show what carries over to new questions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Run as `python bench/quality.py`, this folder comes first on sys.path, and bench/ingest.py
# would stand in for the ingest package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from ingest.pipeline import Pipeline, Report, resolve_all  # noqa: E402
from ingest.prepare import FileTask, prepare  # noqa: E402
from ingest.sources import Source, SourceSpec  # noqa: E402
from rag.embedding import make_embedder, model_identity  # noqa: E402
from rag.evaluate import evaluate, read_questions  # noqa: E402
from rag.kb import KnowledgeBase  # noqa: E402
from rag.ledger import Ledger  # noqa: E402
from rag.settings import Settings, load_settings  # noqa: E402
from rag.store import ChromaStore  # noqa: E402

sys.path.append(str(HERE))  # last: the packages above come first
from machine import describe, line  # noqa: E402  bench/machine.py

BENCH_HOME = Path(".lakesage-bench")
# Stale in ways an incremental ingest does not cure (it skips files whose content is unchanged).
OTHER_MODEL = "built with"
RECHUNKED = "chunked otherwise:"


def staleness(settings: Settings, specs: list[SourceSpec]) -> str | None:
    """Why the index in settings.home is not current for these sources, or None when it is."""
    if not settings.ledger_path.exists():
        return "no index yet"
    ledger = Ledger(settings.ledger_path)
    try:
        built, wanted = ledger.get_meta("model"), model_identity(settings)
        if built != wanted:
            return f"{OTHER_MODEL} {built!r}, not {wanted!r}"
        if ledger.pending():
            return "an ingest was interrupted"
        indexed = {key: record.fingerprint for key, record in ledger.files().items()}
    finally:
        ledger.close()
    report = Report()
    sources = resolve_all(specs, settings, report)
    if report.failures:
        return f"a source cannot be read: {report.failures[0]}"
    present = {(s.origin, item.source): item.fingerprint for s in sources for item in s.items}
    if present != indexed:
        changed = sum(1 for key, value in present.items() if indexed.get(key) != value)
        gone = len(indexed.keys() - present.keys())
        return f"{changed} files new or changed, {gone} gone"
    return rechunked(settings, sources)


def rechunked(settings: Settings, sources: list[Source]) -> str | None:
    """Which file (the first of each source) the present code chunks otherwise than stored;
    None when each one's chunks and metadata are the stored ones."""
    embedder = make_embedder(settings)  # only its tokenizer is used: no weights are loaded
    max_tokens = min(settings.chunk_tokens, embedder.max_tokens)
    collection = ChromaStore(settings).collection
    for source in sources:
        for item in source.items[:1]:
            chunks = prepare(FileTask.of(source, item), embedder.count_tokens, max_tokens)
            if isinstance(chunks, str):
                continue
            where = {"$and": [{"origin": source.origin}, {"source": item.source}]}
            got = collection.get(where=where, include=["metadatas"])  # type: ignore[arg-type,list-item]
            stored = dict(zip(got["ids"], got["metadatas"] or [], strict=True))
            if stored != {chunk.id: chunk.metadata() for chunk in chunks}:
                return f"{RECHUNKED} {item.source} of {source.origin} (ingest/ changed)"
    return None


def bring_up(
    name: str, settings: Settings, specs: list[SourceSpec], *, rebuild: bool, reuse: bool
) -> str:
    """Build or update the index unless it is current (or reuse says never write); how it went."""
    reason = "--rebuild" if rebuild else staleness(settings, specs)
    if reason is None:
        return "reused"
    if reuse:
        print(f"{name}: used as it is, though not current ({reason})", file=sys.stderr)
        return f"reused, not current: {reason}"
    print(f"{name}: building in {settings.home} ({reason})", file=sys.stderr, flush=True)
    started = time.perf_counter()
    # Files whose content is unchanged are skipped by an ingest: only a rebuild re-chunks them.
    again = rebuild or reason.startswith((OTHER_MODEL, RECHUNKED))
    report = Pipeline(settings).run(specs, prune=True, rebuild=again)
    for failure in report.failures:
        print(f"{name}: skipped: {failure}", file=sys.stderr)
    seconds = round(time.perf_counter() - started, 1)
    return f"built in {seconds} s ({report.chunks_embedded} chunks embedded)"


def measure(settings: Settings, questions_file: Path) -> dict[str, Any]:
    """The index's size and the harness's figures on the questions."""
    kb = KnowledgeBase(settings)
    figures, _ = evaluate(kb, read_questions(questions_file))
    return {"chunks": kb.status()["chunks"], **figures}


def table(default: dict[str, Any], guides: dict[str, Any]) -> list[str]:
    """Markdown rows: figure | default | guides-only, per-product hit@5 one row each."""
    lines = ["| figure | default | guides-only |", "|---|---|---|"]
    for name, value in default.items():
        if isinstance(value, dict):
            for part in sorted(value.keys() | guides.get(name, {}).keys()):
                lines.append(
                    f"| {name} {part} | {value.get(part, '-')} | {guides[name].get(part, '-')} |"
                )
        elif not isinstance(value, str):
            lines.append(f"| {name} | {value} | {guides.get(name, '-')} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "questions", type=Path, nargs="+", help="questions JSONL files (shared/eval/dev.jsonl)"
    )
    parser.add_argument("--corpus", type=Path, required=True, help="the shared corpus (mirror)")
    parser.add_argument("--default-home", type=Path, default=BENCH_HOME / "default")
    parser.add_argument("--guides-home", type=Path, default=BENCH_HOME / "guides")
    parser.add_argument("--backend", default="onnx-int8", help="embedding backend to build with")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--rebuild", action="store_true", help="re-embed both indexes")
    group.add_argument(
        "--reuse", action="store_true", help="never write to the homes: use them as they are"
    )
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    default = load_settings(home=args.default_home, mirror=corpus, embed_backend=args.backend)
    guides = load_settings(home=args.guides_home, embed_backend=args.backend)
    runs = {
        "default": (default, Pipeline(default).default_specs()),
        "guides_only": (guides, [SourceSpec(str(corpus))]),
    }
    machine = describe()
    print(f"machine: {line(machine)}", file=sys.stderr, flush=True)
    indexes: dict[str, dict[str, Any]] = {}
    for name, (settings, specs) in runs.items():
        how = bring_up(name, settings, specs, rebuild=args.rebuild, reuse=args.reuse)
        print(f"{name}: {settings.home}: {how}", file=sys.stderr, flush=True)
        indexes[name] = {"home": str(settings.home), "index": how}
    for k, questions in enumerate(args.questions):
        results = {
            name: indexes[name] | measure(settings, questions)
            for name, (settings, _) in runs.items()
        }
        if len(args.questions) > 1:
            print(f"{chr(10) if k else ''}{questions}:")
        print("\n".join(table(results["default"], results["guides_only"])))
        print(
            json.dumps(
                {
                    "questions": str(questions),
                    "backend": args.backend,
                    "machine": machine,
                    **results,
                }
            )
        )


if __name__ == "__main__":
    main()
