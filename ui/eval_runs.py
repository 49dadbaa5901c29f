"""The evaluation runs the Evaluate page keeps on disk, and its per-question table."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from rag.evaluate import Question, Row, rows_as_dicts

QUESTION_COLUMNS = [
    "id",
    "gold rank",
    "refused",
    "answer chars",
    "lead keyword recall",
    "gold pieces",
    "pieces",
    "keyword recall",
    "latency (ms)",
    "product",
    "question",
]


def new_run(
    questions: Sequence[Question],
    figures: dict[str, Any],
    rows: Sequence[Row],
    *,
    label: str,
    questions_file: str,
    engine: str,
) -> dict[str, Any]:
    """One run as it is kept: an id that sorts by time, its label (the engine's name unless
    given), the figures, and each question's row with its gold documents."""
    gold = {q.id: list(q.gold_docs) for q in questions}
    return {
        "id": f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}",
        "label": label.strip() or engine,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "questions_file": questions_file,
        "engine": engine,
        "figures": figures,
        "rows": [{**row, "gold_docs": gold.get(row["id"], [])} for row in rows_as_dicts(rows)],
    }


def save_run(folder: Path, run: dict[str, Any]) -> None:
    """Keep one run's figures and rows as JSON, named so that runs sort by time."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run['id']}.json").write_text(json.dumps(run, indent=1), encoding="utf-8")


def load_runs(folder: Path) -> list[dict[str, Any]]:
    """The runs kept in the folder, oldest first; unreadable files are named and skipped."""
    runs = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            st.warning(f"{path.name}: not a saved run ({exc}); delete or fix it")
    return [r for r in runs if isinstance(r, dict) and "figures" in r and "id" in r]


def question_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One line per question, the answer figures first (the question text is long), blank
    where a figure leaves the question out or the run was saved before the figure existed."""
    return pd.DataFrame(
        [
            {
                "id": row["id"],
                "gold rank": row["gold_rank"],
                "refused": row["refused"],
                "answer chars": row.get("answer_chars") if answered(row) else None,
                "lead keyword recall": row.get("lead_keyword_recall"),
                "gold pieces": row.get("gold_pieces") if answered(row) else None,
                "pieces": row.get("pieces"),
                "keyword recall": row.get("keyword_recall"),
                "latency (ms)": row["latency_ms"],
                "product": row["product"],
                "question": row["question"],
            }
            for row in rows
        ],
        columns=QUESTION_COLUMNS,
    )


def answered(row: dict[str, Any]) -> bool:
    """Whether the answer figures count this question: answerable and not refused."""
    return bool(row["answerable"] and not row["refused"])


def show_progress(bar: Any, done: int, total: int) -> None:
    """Move the progress bar after each question."""
    bar.progress(done / total, text=f"{done} of {total} questions")
