"""Full ingest of a corpus by lakesage and by the textbook LlamaIndex pipeline, side by side.

Each pipeline runs in its own process (wall seconds and peak RSS measured by the OS), on the
same corpus with the same model: then a second, unchanged lakesage run, then a run after one
file changed. Prints a table with ratios and one JSON line.

    python bench/ingest.py --corpus ../shared/corpus [--backend torch]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rag.embedder_base import Tokenizer, resolve_model_path
from rag.settings import Settings, load_settings
from rag.store import ChromaStore

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; its wall seconds, peak RSS in MB and standard output."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{command[0]} failed: exit {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss / 1024, out


def lakesage_tokens(home: Path) -> dict[str, int]:
    """Word pieces lakesage embedded (heading path + text, as embedded) and the most in one chunk."""
    settings = load_settings(home=home)
    tokenizer = Tokenizer(resolve_model_path(settings.embed_model))
    total = largest = 0
    for _, texts, metas, _ in ChromaStore(settings).scan():
        counts = tokenizer.count(
            [f"{m['heading_path']}\n\n{t}" for m, t in zip(metas, texts, strict=True)]
        )
        total += sum(counts)
        largest = max([largest, *counts])
    return {"tokens_embedded": total, "tokens_dropped": 0, "largest_chunk_tokens": largest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument(
        "--backend",
        default=Settings.model_fields["embed_backend"].default,
        help="lakesage embed_backend (default: the settings' default)",
    )
    args = parser.parse_args()
    env = {**os.environ, "LAKESAGE_EMBED_BACKEND": args.backend, "HF_HUB_OFFLINE": "1"}
    results: dict[str, Any] = {"backend": args.backend}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(args.corpus, corpus)
        home = Path(tmp) / "home"
        textbook_s, textbook_mb, out = measured(
            [sys.executable, str(HERE / "textbook.py"), "--ingest-only", "--corpus", str(corpus)],
            env,
        )
        results["textbook"] = {
            "wall_s": round(textbook_s, 1),
            "peak_rss_mb": round(textbook_mb),
            **json.loads(out.strip().splitlines()[-1]),
        }
        full_s, full_mb, out = measured(
            [str(BIN / "ingest"), str(corpus), "--home", str(home), "--json"], env
        )
        report = json.loads(out)
        results["lakesage"] = {
            "wall_s": round(full_s, 1),
            "peak_rss_mb": round(full_mb),
            "chunks": report["chunks_stored"],
            "files": report["files_indexed"],
            **lakesage_tokens(home),
        }
        again_s, _, _ = measured(
            [str(BIN / "ingest"), str(corpus), "--home", str(home), "--json"], env
        )
        changed = corpus / "spark" / "docs" / "tuning.md"
        changed.write_text(changed.read_text() + "\n\n## Local addendum\n\nOne more paragraph.\n")
        change_s, _, out = measured(
            [str(BIN / "ingest"), str(corpus), "--home", str(home), "--json"], env
        )
        results["unchanged_rerun_s"] = round(again_s, 2)
        results["one_file_changed_s"] = round(change_s, 2)
        results["one_file_changed_embedded"] = json.loads(out)["chunks_embedded"]
    ours, theirs = results["lakesage"], results["textbook"]
    for side in (ours, theirs):
        side["chunks_per_s"] = round(side["chunks"] / side["wall_s"], 1)
        side["embedded_share"] = round(
            side["tokens_embedded"] / (side["tokens_embedded"] + side["tokens_dropped"]), 3
        )
    results["wall_ratio_lakesage_over_textbook"] = round(ours["wall_s"] / theirs["wall_s"], 2)
    results["unchanged_over_full"] = round(results["unchanged_rerun_s"] / ours["wall_s"], 4)
    print(f"{'':<22}{'textbook':>12}{'lakesage':>12}")
    for key in (
        "wall_s",
        "chunks",
        "chunks_per_s",
        "tokens_embedded",
        "tokens_dropped",
        "embedded_share",
        "peak_rss_mb",
    ):
        print(f"{key:<22}{theirs[key]:>12}{ours[key]:>12}")
    print(f"lakesage / textbook wall time: {results['wall_ratio_lakesage_over_textbook']}")
    print(
        f"unchanged re-run: {results['unchanged_rerun_s']} s ({results['unchanged_over_full']:.2%} of full)"
    )
    print(
        f"one file changed: {results['one_file_changed_s']} s, {results['one_file_changed_embedded']} chunks embedded"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
