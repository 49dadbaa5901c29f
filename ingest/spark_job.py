"""The ingest job on Spark: list on the driver, chunk on executors, embed in a pandas UDF, MERGE to Delta.

Runs from `ingest --engine spark --table PATH`, or as a plain job:
`spark-submit ingest/spark_job.py --table PATH SOURCE...`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.chunking import file_id
from ingest.delta_table import SCHEMA, ChunkTable, chunk_row
from ingest.pipeline import Report, resolve_all
from ingest.prepare import FileTask, prepare
from ingest.sources import SourceSpec, read_sources_file
from rag.embedding import Embedder, make_embedder, model_identity
from rag.errors import LakesageError
from rag.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

# Settings an executor needs to rebuild the embedder; secrets never leave the driver.
WORKER_FIELDS = (
    "home",
    "embed_model",
    "embed_backend",
    "embed_batch_size",
    "model_cache",
    "chunk_tokens",
)
# Texts per embedding task, about: enough tasks that every core embeds until the end.
TEXTS_PER_TASK = 256
CHUNK_DDL = (
    "id string, file_id string, origin string, source string, fingerprint string, ordinal int, "
    "title string, headings array<string>, product string, version string, url string, "
    "page int, text string, embed_text string, content_hash string, symbol string, "
    "reference boolean, cell int, last_cell int, since string, deprecated string, "
    "deprecated_use string, failure string"
)
# Files per partition, at most: small partitions keep both cores busy to the end.
FILES_PER_PARTITION = 8

_WORKER_EMBEDDERS: dict[tuple[Any, ...], Embedder] = {}


def spark_session(settings: Settings) -> SparkSession:
    """The active session (spark-submit, a notebook), else a local one on loopback."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # Workers must run this interpreter, where lakesage and its model are installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("lakesage-ingest")
    if not SparkConf().contains("spark.master"):  # spark-submit sets it; else run locally
        builder = (
            builder.master(settings.spark_master)
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "8")
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def worker_embedder(conf: dict[str, Any]) -> Embedder:
    """The embedder of one executor process, loaded once and reused by every task it runs."""
    key = tuple(sorted(conf.items()))
    if key not in _WORKER_EMBEDDERS:
        from rag.offline import go_offline

        go_offline()
        _WORKER_EMBEDDERS[key] = make_embedder(Settings(**conf))
    return _WORKER_EMBEDDERS[key]


def run_spark(
    settings: Settings,
    specs: Sequence[SourceSpec],
    table_uri: str,
    *,
    prune: bool = False,
    rebuild: bool = False,
    spark: SparkSession | None = None,
) -> Report:
    """Bring the Delta table up to date with the sources, on Spark."""
    started = time.perf_counter()
    report = Report()
    table = ChunkTable(table_uri)
    identity = model_identity(settings)
    if not rebuild:
        table.check_model(identity)
    sources = resolve_all(specs, settings, report)
    report.files_total = sum(len(s.items) for s in sources)
    known = {} if rebuild else table.files()
    tasks = []
    for source in sources:
        for item in source.items:
            if known.get((source.origin, item.source)) == item.fingerprint:
                report.files_unchanged += 1
            else:
                tasks.append(FileTask.of(source, item))
    pruned = [s for s in sources if prune or s.exhaustive]
    present = {(s.origin, item.source) for s in pruned for item in s.items}
    origins = {s.origin for s in pruned}
    removed = [key for key in known if key[0] in origins and key not in present]
    if tasks or removed or rebuild:
        session = spark or spark_session(settings)
        written, staging = _process(settings, tasks, table, session, report, rebuild=rebuild)
        replaced = written + [file_id(*key) for key in removed]
        report.files_removed = len(removed)
        _commit(table, staging, replaced, identity, rebuild=rebuild)
    report.files_done = report.files_total
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _process(
    settings: Settings,
    tasks: Sequence[FileTask],
    table: ChunkTable,
    spark: SparkSession,
    report: Report,
    *,
    rebuild: bool,
) -> tuple[list[str], str]:
    """Chunk and embed the tasks on the cluster into a staging folder: (files written, folder)."""
    from pyspark import StorageLevel
    from pyspark.cloudpickle import dumps
    from pyspark.sql import functions as F

    conf = settings.model_dump(include=set(WORKER_FIELDS))
    # A task owns spark.task.cpus cores: an embedder on every core per task would oversubscribe.
    conf["embed_threads"] = int(spark.conf.get("spark.task.cpus", "1") or 1)
    if settings.embed_backend == "onnx-int8":
        make_embedder(settings).embed(["warm up"])  # exports the ONNX model once, here
    payloads = [(i, dumps(task)) for i, task in enumerate(tasks)]
    partitions = max(
        1,
        min(
            len(payloads),
            spark.sparkContext.defaultParallelism * 4,
            -(-len(payloads) // FILES_PER_PARTITION),
        ),
    )
    listed = spark.createDataFrame(payloads, "n int, task binary").repartition(partitions, "n")
    parsed = listed.mapInPandas(_chunker(conf), CHUNK_DDL).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        failures = parsed.where(F.col("failure").isNotNull()).select("failure").collect()
        report.failures.extend(row.failure for row in failures)
        chunks = parsed.where(F.col("failure").isNull()).drop("failure")
        hashes = chunks.select("content_hash", "embed_text").dropDuplicates(["content_hash"])
        # A rebuild embeds everything anew: the table's vectors may be another model's.
        stored = _stored_vectors(spark, table) if table.exists() and not rebuild else None
        fresh = hashes if stored is None else hashes.join(stored, "content_hash", "left_anti")
        report.chunks_embedded = fresh.count()
        # An explicit split: adaptive execution would coalesce a few MB of text into one task.
        splits = max(
            spark.sparkContext.defaultParallelism, -(-report.chunks_embedded // TEXTS_PER_TASK)
        )
        # Embedded once, while the rows are written: the vectors are read by that write only.
        embedded = (
            fresh.repartition(splits)
            .withColumn("embedding", _embed_udf(conf)("embed_text"))
            .drop("embed_text")
        )
        vectors = (
            embedded
            if stored is None
            else embedded.unionByName(stored.join(hashes.select("content_hash"), "content_hash"))
        )
        rows = chunks.join(vectors, "content_hash").select(*SCHEMA.names)
        staging = _staging_path(table)
        rows.write.mode("overwrite").parquet(staging)
        written = chunks.select("file_id").distinct().collect()
        report.chunks_stored = chunks.count()
        report.chunks_reused = report.chunks_stored - report.chunks_embedded
        report.files_indexed = len(written)
    finally:
        parsed.unpersist()
    return [row.file_id for row in written], staging


def _commit(
    table: ChunkTable, staging: str, replaced: list[str], identity: str, *, rebuild: bool
) -> None:
    """MERGE the staged rows into the table, then drop the staging folder."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        scanner = ds.dataset(staging, format="parquet").scanner(columns=SCHEMA.names)
        rows = pa.RecordBatchReader.from_batches(
            SCHEMA, (batch.cast(SCHEMA) for batch in scanner.to_batches())
        )
        table.merge(rows, replaced, identity, overwrite=rebuild)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _staging_path(table: ChunkTable) -> str:
    """A fresh folder beside the table for the executors' output."""
    base = Path(table.uri)
    return str(base.parent / f".{base.name}.staging-{uuid.uuid4().hex[:12]}")


def _stored_vectors(spark: SparkSession, table: ChunkTable) -> DataFrame:
    """(content_hash, embedding) of every chunk already in the table, read by the executors."""
    files = table.file_uris()
    if not files:
        return spark.createDataFrame([], "content_hash string, embedding array<float>")
    stored = spark.read.parquet(*files).select("content_hash", "embedding")
    return stored.dropDuplicates(["content_hash"])


def _chunker(conf: dict[str, Any]) -> Any:
    """The executor side of parsing: task payloads in, chunk rows (or one failure row) out."""

    def chunk_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd
        from pyspark.cloudpickle import loads

        embedder = worker_embedder(conf)
        max_tokens = min(int(conf["chunk_tokens"]), embedder.max_tokens)
        columns = [c.split()[0] for c in CHUNK_DDL.split(", ")]
        for batch in batches:
            rows: list[dict[str, Any]] = []
            for payload in batch["task"]:
                task: FileTask = loads(payload)
                outcome = prepare(task, embedder.count_tokens, max_tokens)
                if isinstance(outcome, str):
                    rows.append(dict.fromkeys(columns) | {"failure": outcome})
                else:
                    rows.extend(chunk_row(c, task.item.fingerprint) for c in outcome)
            # object dtype throughout: an all-None column must not turn into float NaN.
            yield pd.DataFrame(rows, columns=columns, dtype=object)

    return chunk_partition


def _embed_udf(conf: dict[str, Any]) -> Any:
    """A pandas UDF that embeds texts with the executor's embedder."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    def embed(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        embedder = worker_embedder(conf)
        for texts in batches:
            yield pd.Series(list(embedder.embed(texts.tolist())))

    # Spark reads the UDF kind from real type hints; postponed annotations are only strings.
    embed.__annotations__ = {"batches": Iterator[pd.Series], "return": Iterator[pd.Series]}
    return pandas_udf(embed, ArrayType(FloatType()))  # type: ignore[call-overload]


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the job when run by spark-submit."""
    parser = argparse.ArgumentParser(
        prog="spark_job", description="lakesage ingest as a Spark job writing a Delta table."
    )
    parser.add_argument("sources", nargs="*", metavar="SOURCE")
    parser.add_argument(
        "--table", required=True, help="folder of the Delta table, reachable from every node"
    )
    parser.add_argument("--config", type=Path, help="settings file (default ./lakesage.toml)")
    parser.add_argument("--home", type=Path, help="data folder for caches")
    parser.add_argument("--prune", action="store_true")
    parser.add_argument("--rebuild", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point under spark-submit: prints the report as JSON."""
    import json

    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config, home=args.home)
        specs = [SourceSpec(s) for s in args.sources] or read_sources_file(settings.sources_file)
        report = run_spark(settings, specs, args.table, prune=args.prune, rebuild=args.rebuild)
    except LakesageError as exc:
        print(f"spark_job: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.as_dict()))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
