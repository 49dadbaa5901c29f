"""The `ingest` command: parse arguments, call the pipeline, print the result."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ingest.pipeline import Pipeline, Report, remove
from ingest.sources import SourceSpec
from rag.errors import LakesageError
from rag.ledger import Ledger
from rag.settings import Settings, load_settings


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exit code 2 on usage errors, as argparse does)."""
    parser = argparse.ArgumentParser(
        prog="ingest",
        description="Index documentation into lakesage's Chroma store. "
        "With no SOURCE, the default sources of corpus/sources.toml are ingested.",
    )
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="a file or folder, pkg:NAME, pypi:NAME==VERSION, or an http(s) URL of a page or archive",
    )
    parser.add_argument(
        "--home", type=Path, help="data folder (default $LAKESAGE_HOME or ./.lakesage)"
    )
    parser.add_argument("--config", type=Path, help="settings file (default ./lakesage.toml)")
    parser.add_argument(
        "--mirror", type=Path, help="local copy of the upstream docs, laid out like shared/corpus"
    )
    parser.add_argument(
        "--prune", action="store_true", help="remove indexed files that are gone from their source"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="drop the index and embed everything again"
    )
    parser.add_argument("--status", action="store_true", help="show what the index holds and exit")
    parser.add_argument(
        "--remove", metavar="SOURCE", help="remove one source's chunks from the index and exit"
    )
    parser.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="local: this process; spark: a Spark job writing the Delta table of --table, "
        "then this index syncs from it",
    )
    parser.add_argument(
        "--table",
        metavar="PATH",
        help="the chunks Delta table for --engine spark: a folder every Spark node can reach",
    )
    parser.add_argument(
        "--sync",
        metavar="PATH",
        help="bring this index up to date with a chunks Delta table (its change feed) and exit",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="when another ingest holds this home, wait up to SECONDS for it (default: refuse)",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `ingest` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.engine == "spark" and not args.table:
        parser.error("--engine spark needs --table PATH, where the chunks Delta table is kept")
    if args.table and args.engine != "spark":
        parser.error("--table goes with --engine spark; to read a table into this index use --sync")
    try:
        settings = load_settings(args.config, home=args.home, mirror=args.mirror)
        if args.status:
            return _print_status(settings, as_json=args.json)
        if args.remove:
            return _remove(settings, args.remove, as_json=args.json, wait=args.wait)
        if args.sync:
            return _sync(settings, args.sync, rebuild=args.rebuild, as_json=args.json)
        return _ingest(settings, args)
    except LakesageError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "ingest: interrupted; run it again to finish (finished files are kept)", file=sys.stderr
        )
        return 130


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Run the pipeline (here or on Spark) and print its report."""
    told: set[str] = set()  # sources already reported as skipped, while the run goes on

    def tell(failure: str) -> None:
        _skipped(failure)
        told.add(failure)

    pipeline = Pipeline(settings)
    specs = [SourceSpec(s) for s in args.sources] or pipeline.default_specs()
    if args.engine == "spark":
        from ingest.spark_job import run_spark

        report = run_spark(settings, specs, args.table, prune=args.prune, rebuild=args.rebuild)
        _sync(settings, args.table, rebuild=args.rebuild, as_json=False, quiet=args.json)
    else:
        bar = _ProgressBar(enabled=sys.stderr.isatty() and not args.json)
        try:
            report = pipeline.run(
                specs,
                prune=args.prune,
                rebuild=args.rebuild,
                progress=bar.update,
                wait=args.wait,
                on_wait=_tell_waiting,
                on_failure=tell,
            )
        finally:
            bar.close()
    if report.files_recovered:
        print(
            f"ingest: cleaned up {report.files_recovered} files an interrupted run left half-written",
            file=sys.stderr,
        )
    for failure in report.failures:
        if failure not in told:
            _skipped(failure)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(_summary_line(report))
    return 1 if report.failures else 0


def _skipped(failure: str) -> None:
    """The one line of a source or file left out."""
    print(f"skipped: {failure}", file=sys.stderr, flush=True)


def _tell_waiting(message: str) -> None:
    """The one line a waiting ingest prints."""
    print(f"ingest: {message}", file=sys.stderr, flush=True)


def _summary_line(report: Report) -> str:
    """One human line: what was indexed, reused, removed and failed."""
    rate = report.chunks_embedded / report.seconds if report.seconds else 0.0
    return (
        f"indexed {report.files_indexed} files ({report.chunks_stored} chunks: "
        f"{report.chunks_embedded} embedded, {report.chunks_reused} reused), "
        f"{report.files_unchanged} unchanged, {report.files_removed} removed, "
        f"{len(report.failures)} failed in {report.seconds:.1f} s ({rate:.1f} chunks/s)"
    )


def _sync(
    settings: Settings, table: str, *, rebuild: bool, as_json: bool, quiet: bool = False
) -> int:
    """Sync the index from a chunks Delta table and say what changed."""
    from ingest.table_sync import sync_from_table

    report = sync_from_table(settings, table, rebuild=rebuild)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    elif not quiet:
        print(
            f"synced {settings.home} from {table} version {report.version} ({report.mode}): "
            f"{report.files_updated} files updated ({report.chunks_stored} chunks), "
            f"{report.files_removed} removed in {report.seconds:.1f} s"
        )
    return 0


def _remove(settings: Settings, name: str, *, as_json: bool, wait: float) -> int:
    """Remove a source given by its origin label or its path."""
    ledger = Ledger(settings.ledger_path)
    try:
        origins = ledger.origins()
    finally:
        ledger.close()
    origin = name if name in origins else str(Path(name).expanduser().resolve())
    if origin not in origins:
        known = ", ".join(origins) or "none"
        raise LakesageError(f"{name}: not in the index; indexed sources: {known}")
    removed = remove(settings, origin, wait, _tell_waiting)
    if as_json:
        print(json.dumps({"removed_source": origin, "files_removed": removed}))
    else:
        print(f"removed {origin} ({removed} files)")
    return 0


def _print_status(settings: Settings, *, as_json: bool) -> int:
    """Counts per product and source, the model and the last run."""
    ledger_path = settings.ledger_path
    if not ledger_path.exists():
        raise LakesageError(f"no index in {settings.home}; run `ingest` first")
    ledger = Ledger(ledger_path)
    try:
        summary: dict[str, Any] = ledger.summary()
    finally:
        ledger.close()
    summary["home"] = str(settings.home)
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"index: {settings.home}  model: {summary['model']}")
    print(f"{summary['files']} files, {summary['chunks']} chunks")
    print("by product:")
    for product, counts in summary["products"].items():
        print(f"  {product:<10} {counts['files']:>6} files {counts['chunks']:>8} chunks")
    print("by source:")
    for origin, counts in summary["sources"].items():
        print(f"  {origin}: {counts['files']} files, {counts['chunks']} chunks")
    if last := summary["last_run"]:
        print(
            f"last run: {_when(last['finished_at'])}, {last['seconds']:.1f} s, "
            f"{last['files_indexed']} files indexed, {last['failures']} failed"
        )
    return 0


def _when(timestamp: float) -> str:
    """A local time stamp for people."""
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


class _ProgressBar:
    """Files, chunks and rate on a terminal; silent otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self._bar: Any = None
        self._enabled = enabled

    def update(self, report: Report) -> None:
        """Redraw from the report."""
        if not self._enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=report.files_total, unit="file", file=sys.stderr, dynamic_ncols=True
            )
        self._bar.n = report.files_done
        self._bar.set_postfix(
            chunks=report.chunks_stored, embedded=report.chunks_embedded, refresh=False
        )
        self._bar.refresh()

    def close(self) -> None:
        """Finish the bar's line."""
        if self._bar is not None:
            self._bar.close()
