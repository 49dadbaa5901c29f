"""Ingest throughput: the single-process pipeline against the Spark job, on one corpus.

Each run is the real `ingest` command in its own process, timed from outside: first `ingest CORPUS`, then
`ingest --engine spark --table T CORPUS` (the job, then this home synced from the table),
then an unchanged re-run of the Spark job. Prints a table with the ratios and one JSON line.

    python bench/spark_ingest.py --corpus ../shared/corpus [--backend onnx-int8] [--master local[2]]
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

BIN = Path(sys.executable).parent


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run a command to its end (exit 0 or 1); wall seconds and standard output."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command[0]} failed: exit {done.returncode}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stdout


def main() -> None:
    """Run both engines on the corpus and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--backend", default="torch", choices=("torch", "onnx-int8"))
    parser.add_argument("--master", default="local[2]", help="Spark master for the job")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lakesage-bench-spark-"))
    try:
        env = {
            **os.environ,
            "LAKESAGE_EMBED_BACKEND": args.backend,
            "LAKESAGE_SPARK_MASTER": args.master,
        }
        homes = {name: work / name for name in ("single", "spark")}
        if args.backend != "torch":  # export the ONNX model once, outside the timings
            warm = "from rag.embedding import make_embedder; from rag.settings import load_settings; make_embedder(load_settings()).embed(['warm up'])"
            timed([sys.executable, "-c", warm], {**env, "LAKESAGE_HOME": str(work / "warm")})
            for home in homes.values():
                shutil.copytree(work / "warm" / "cache", home / "cache")
        rows = {}
        single = {**env, "LAKESAGE_HOME": str(homes["single"])}
        seconds, out = timed([str(BIN / "ingest"), str(args.corpus), "--json"], single)
        rows["single process"] = (seconds, json.loads(out))
        table = str(work / "chunks")
        spark = {**env, "LAKESAGE_HOME": str(homes["spark"])}
        command = [str(BIN / "ingest"), "--engine", "spark", "--table", table, str(args.corpus)]
        seconds, out = timed([*command, "--json"], spark)
        rows[f"spark {args.master} + sync"] = (seconds, json.loads(out))
        seconds, out = timed([*command, "--json"], spark)
        rows["spark, unchanged re-run"] = (seconds, json.loads(out))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = rows["single process"][0]
    print(f"{'run':<28} {'wall s':>8} {'chunks':>7} {'chunks/s':>9} {'vs single':>10}")
    for name, (seconds, report) in rows.items():
        chunks = report["chunks_stored"]
        print(
            f"{name:<28} {seconds:>8.1f} {chunks:>7} {chunks / seconds:>9.1f} "
            f"{seconds / base:>9.2f}x"
        )
    print(
        json.dumps(
            {
                "backend": args.backend,
                "master": args.master,
                **{
                    name: {"seconds": round(s, 2), "chunks": r["chunks_stored"]}
                    for name, (s, r) in rows.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
