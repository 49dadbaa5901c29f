"""The chunks of the upstream guides as one code version makes them, and two such runs compared.

`write` runs the real stages before embedding (the sources file's mirrored guide sources
resolved from --corpus, each file loaded and chunked by ingest.prepare with the embedder's
tokenizer; no model weights are loaded) and writes one JSON line per chunk: its id, text and
metadata. `compare` reads two such files and prints the chunks per product in each; the
changed chunks per product by kind of change (matched by text within each file, so an
inserted chunk does not count every later one as changed): "cut elsewhere" (the same text in
other chunks), "spacing" (the same characters apart from whitespace: indentation, blank lines,
line breaks), "tables" (the same table cells, rendered otherwise or split with their header
repeated) and "text" (other words: the ones to read); then, file by file, the heading paths
only one side has, the chunks only one side has, and the chunks whose text is equal but whose
metadata differs.

    python bench/chunk_diff.py write before.jsonl --corpus ../shared/corpus
    python bench/chunk_diff.py compare before.jsonl after.jsonl [--show 3] [--json]

To see what a change to ingest/ does, run `write` on the commit before it (a checkout of it
first on PYTHONPATH) and on the change, then `compare`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Run as `python bench/chunk_diff.py`, this folder comes first on sys.path, and bench/ingest.py
# would stand in for the ingest package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from ingest.prepare import FileTask, prepare  # noqa: E402
from ingest.sources import read_sources_file, resolve  # noqa: E402
from rag.embedding import make_embedder  # noqa: E402
from rag.settings import load_settings  # noqa: E402

Record = dict[str, Any]
KINDS = ("cut elsewhere", "spacing", "tables", "text")
_RULE_ROW = re.compile(r"\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*")


def write(out: Path, corpus: Path) -> tuple[int, list[str]]:
    """Chunk every file of the mirrored guide sources into out; (chunks written, failures)."""
    settings = load_settings(mirror=corpus)
    embedder = make_embedder(settings)  # only its tokenizer is used: no weights are loaded
    max_tokens = min(settings.chunk_tokens, embedder.max_tokens)
    specs = [spec for spec in read_sources_file(settings.sources_file) if spec.mirror]
    failures: list[str] = []
    written = 0
    with out.open("w", encoding="utf-8") as handle:
        for spec in specs:
            source = resolve(spec, settings)
            for item in source.items:
                chunks = prepare(FileTask.of(source, item), embedder.count_tokens, max_tokens)
                if isinstance(chunks, str):
                    failures.append(chunks)
                    continue
                for chunk in chunks:
                    record = {"id": chunk.id, "text": chunk.text, "metadata": chunk.metadata()}
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
    return written, failures


def read(path: Path) -> list[Record]:
    """The chunk records of a file written by `write`."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def by_file(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Records grouped by their source file, in chunk order."""
    files: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        files[record["metadata"]["source"]].append(record)
    return {
        name: sorted(chunks, key=lambda r: r["metadata"]["ordinal"])
        for name, chunks in files.items()
    }


def products(records: Iterable[Record]) -> Counter[str]:
    """Chunks per product."""
    return Counter(record["metadata"]["product"] for record in records)


def compare(before: list[Record], after: list[Record]) -> dict[str, Any]:
    """What changed from before to after, file by file."""
    old, new = by_file(before), by_file(after)
    files: dict[str, Any] = {}
    kinds: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name, []), new.get(name, [])
        product = (a or b)[0]["metadata"]["product"]
        texts_a, texts_b = [r["text"] for r in a], [r["text"] for r in b]
        matcher = difflib.SequenceMatcher(a=texts_a, b=texts_b, autojunk=False)
        removed: list[str] = []
        added: list[str] = []
        metadata: list[dict[str, Any]] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                for ra, rb in zip(a[i1:i2], b[j1:j2], strict=True):
                    changed = _metadata_changes(ra, rb)
                    if changed:
                        metadata.append({"text": ra["text"][:80], "changed": changed})
            else:
                removed += texts_a[i1:i2]
                added += texts_b[j1:j2]
                kinds[_kind(texts_a[i1:i2], texts_b[j1:j2])][product] += max(i2 - i1, j2 - j1)
        paths_a = {r["metadata"]["heading_path"] for r in a}
        paths_b = {r["metadata"]["heading_path"] for r in b}
        headings = {"gone": sorted(paths_a - paths_b), "new": sorted(paths_b - paths_a)}
        if removed or added or metadata:
            files[name] = {
                "removed": removed,
                "added": added,
                "metadata": metadata,
                "headings": headings,
            }
    return {
        "before": dict(sorted(products(before).items())),
        "after": dict(sorted(products(after).items())),
        "ids_before": len({r["id"] for r in before}),
        "ids_after": len({r["id"] for r in after}),
        "same_ids_and_texts": len(
            {(r["id"], r["text"]) for r in before} & {(r["id"], r["text"]) for r in after}
        ),
        "kinds": {kind: dict(sorted(counts.items())) for kind, counts in kinds.items()},
        "files": files,
    }


def _kind(old: list[str], new: list[str]) -> str:
    """How a run of chunks changed: cut elsewhere, spacing, tables or text."""
    a, b = "\n\n".join(old), "\n\n".join(new)
    if a == b:
        return "cut elsewhere"
    if "".join(a.split()) == "".join(b.split()):
        return "spacing"
    if _cells(a) == _cells(b):
        return "tables"
    return "text"


def _cells(text: str) -> str:
    """Text with table rows as their cells, without rule rows or a repeated header row."""
    seen: set[str] = set()
    out: list[str] = []
    for line in text.split("\n"):
        if "|" not in line:
            out.append(line)
        elif not _RULE_ROW.fullmatch(line):
            row = "|".join(cell.strip() for cell in line.strip().strip("|").split("|"))
            if row not in seen:  # a split table repeats its header
                seen.add(row)
                out.append(row)
    return "".join("".join(out).split())


def _metadata_changes(a: Record, b: Record) -> dict[str, list[Any]]:
    """The metadata fields that differ between two chunks of equal text, ordinal and hash aside
    (an inserted chunk shifts the ordinals after it; the hash follows the heading path)."""
    keys = (a["metadata"].keys() | b["metadata"].keys()) - {"ordinal", "hash"}
    return {
        key: [a["metadata"].get(key), b["metadata"].get(key)]
        for key in sorted(keys)
        if a["metadata"].get(key) != b["metadata"].get(key)
    }


def report(result: dict[str, Any], show: int) -> str:
    """The comparison as text: totals, then each changed file with a few of its changes."""
    lines = ["product | before | after", "---|---|---"]
    for product in sorted(result["before"].keys() | result["after"].keys()):
        lines.append(
            f"{product} | {result['before'].get(product, 0)} | {result['after'].get(product, 0)}"
        )
    lines.append(
        f"\n{result['same_ids_and_texts']} chunks keep their id and text; "
        f"{len(result['files'])} files changed"
    )
    names = sorted(result["before"].keys() | result["after"].keys())
    lines += ["\nchanged chunks | " + " | ".join(names), "---|" + "---|" * len(names)]
    for kind, counts in result["kinds"].items():
        lines.append(f"{kind} | " + " | ".join(str(counts.get(p, 0)) for p in names))
    for name, change in result["files"].items():
        lines.append(
            f"\n## {name}: -{len(change['removed'])} +{len(change['added'])} chunks, "
            f"{len(change['metadata'])} with other metadata"
        )
        for path in change["headings"]["gone"]:
            lines.append(f"- heading path {path!r}")
        for path in change["headings"]["new"]:
            lines.append(f"+ heading path {path!r}")
        for text in change["removed"][:show]:
            lines.append("- " + json.dumps(text[:300], ensure_ascii=False))
        for text in change["added"][:show]:
            lines.append("+ " + json.dumps(text[:300], ensure_ascii=False))
        for entry in change["metadata"][:show]:
            lines.append("~ " + json.dumps(entry, ensure_ascii=False))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write one run's chunks, or compare two runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    writing = commands.add_parser("write", help="chunk the mirrored guides into a JSONL file")
    writing.add_argument("out", type=Path)
    writing.add_argument("--corpus", type=Path, default=HERE.parent.parent / "shared" / "corpus")
    comparing = commands.add_parser("compare", help="compare two JSONL files of chunks")
    comparing.add_argument("before", type=Path)
    comparing.add_argument("after", type=Path)
    comparing.add_argument("--show", type=int, default=3, help="changes shown per file")
    comparing.add_argument("--json", action="store_true", help="print the comparison as JSON")
    args = parser.parse_args(argv)
    if args.command == "write":
        written, failures = write(args.out, args.corpus)
        for failure in failures:
            print(f"skipped: {failure}", file=sys.stderr)
        print(f"{written} chunks written to {args.out}")
        return 1 if failures else 0
    result = compare(read(args.before), read(args.after))
    print(json.dumps(result, ensure_ascii=False) if args.json else report(result, args.show))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
