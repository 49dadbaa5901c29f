"""Evaluate: run a question set through retrieval and answers; compare the runs kept on disk."""

from __future__ import annotations

import inspect
import json
import time
import uuid
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from pages.common import (
    REPO,
    admin_gate,
    chat_options,
    index_status,
    page_setup,
    stop_with_error,
    with_llm,
)
from rag.errors import LakesageError
from rag.evaluate import FIGURE_HELP, KS, evaluate, is_gold, read_questions, rows_as_dicts

DEFAULT_QUESTIONS = REPO.parent / "shared" / "eval" / "dev.jsonl"
EVAL_K = 10
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
ROW_PX = 35  # st.dataframe's row height: the figures table is sized to show every figure


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


settings, kb = page_setup("Evaluate")
options = chat_options(settings)
runs_dir = settings.home / "evals"

st.title("Evaluate")
if not index_status(kb):
    st.info("There is no index to evaluate yet: add documents on the **Ingest** page first.")
    st.stop()

path = st.text_input("Questions file (JSONL)", value=str(DEFAULT_QUESTIONS), key="eval-path")
label = st.text_input("Run label", key="eval-label", placeholder="e.g. keyword weight 1.5")
st.caption(
    f"Answers use the sidebar's engine ({options.engine}); retrieval is scored at k={EVAL_K}."
)

may_run = admin_gate(settings, "Running an evaluation")
if st.button("Run evaluation", type="primary", key="eval-run"):
    if not may_run:
        stop_with_error("Enter the admin password first; no evaluation was run.")
    try:
        questions = read_questions(Path(path).expanduser())
    except LakesageError as exc:
        stop_with_error(str(exc))
    if not questions:
        stop_with_error(f"{path} holds no questions; one JSON object per line is expected.")
    bar = st.progress(0.0, text=f"0 of {len(questions)} questions")
    try:
        figures, rows = evaluate(
            with_llm(kb, options),
            questions,
            k=EVAL_K,
            engine=options.engine,
            progress=lambda done, total: show_progress(bar, done, total),
        )
    except LakesageError as exc:
        stop_with_error(str(exc))
    gold = {q.id: list(q.gold_docs) for q in questions}
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    save_run(
        runs_dir,
        {
            "id": run_id,
            "label": label.strip() or options.engine,
            "when": started,
            "questions_file": str(path),
            "engine": options.engine,
            "figures": figures,
            "rows": [{**row, "gold_docs": gold.get(row["id"], [])} for row in rows_as_dicts(rows)],
        },
    )
    bar.empty()
    st.session_state["eval-runs"] = [run_id]

runs = load_runs(runs_dir)
if not runs:
    st.info(f"No runs yet. Run an evaluation; each run is kept in {runs_dir} for comparison.")
    st.stop()
by_id = {run["id"]: run for run in runs}
if [r for r in st.session_state.get("eval-runs", []) if r not in by_id]:
    del st.session_state["eval-runs"]
chosen = st.multiselect(
    "Runs to show",
    list(by_id),
    default=None if "eval-runs" in st.session_state else [runs[-1]["id"]],
    format_func=lambda run_id: f"{by_id[run_id]['label']} ({by_id[run_id]['when']})",
    key="eval-runs",
)
if not chosen:
    st.info("Pick at least one run.")
    st.stop()
shown = [by_id[run_id] for run_id in chosen]
names = [f"{run['label']} ({run['when']})" for run in shown]

figures = pd.DataFrame({name: run["figures"] for name, run in zip(names, shown, strict=True)})
scalars = figures.drop(index=["hit@5_by_product"], errors="ignore")
st.subheader("Figures")
st.dataframe(
    scalars.astype(object).where(scalars.notna(), "-").astype(str),
    height=ROW_PX * (len(scalars) + 1) + 3,
)
with st.expander("What the figures mean"):
    st.markdown("\n".join(f"- `{name}`: {text}" for name, text in FIGURE_HELP.items()))
    st.markdown(f"**Gold passages.** {inspect.getdoc(is_gold)}")

left, right = st.columns(2)
with left:
    st.subheader("hit@k")
    curve = pd.DataFrame(
        [
            {"run": name, "k": k, "hit": run["figures"].get(f"hit@{k}")}
            for name, run in zip(names, shown, strict=True)
            for k in KS
        ]
    )
    st.line_chart(curve, x="k", y="hit", color="run", y_label="share of answerable questions")
with right:
    st.subheader("hit@5 per product")
    per_product = pd.DataFrame(
        [
            {"run": name, "product": product, "hit@5": share}
            for name, run in zip(names, shown, strict=True)
            for product, share in run["figures"].get("hit@5_by_product", {}).items()
        ],
        columns=["run", "product", "hit@5"],
    )
    st.bar_chart(per_product, x="product", y="hit@5", color="run", stack=False)

st.subheader("Latency per question")
latencies = pd.DataFrame(
    [
        {"run": name, "latency_ms": row["latency_ms"]}
        for name, run in zip(names, shown, strict=True)
        for row in run.get("rows", [])
    ]
)
if not latencies.empty:
    st.altair_chart(
        alt.Chart(latencies)
        .mark_bar(opacity=0.7)
        .encode(
            x=alt.X("latency_ms:Q", bin=alt.Bin(maxbins=30), title="latency (ms)"),
            y=alt.Y("count():Q", stack=None, title="questions"),
            color="run:N",
        )
    )

latest = shown[-1]
misses = [
    {
        "question": row["question"],
        "product": row["product"],
        "gold docs": ", ".join(row.get("gold_docs", [])),
        "gold rank": row["gold_rank"],
        "retrieved instead (top 5)": ", ".join(row["retrieved"][:5]),
    }
    for row in latest.get("rows", [])
    if row["answerable"] and (row["gold_rank"] is None or row["gold_rank"] > 5)
]
st.subheader(f"Missed at 5: {len(misses)} questions ({latest['label']})")
if misses:
    st.dataframe(pd.DataFrame(misses), hide_index=True)

st.subheader(f"Per question ({latest['label']})")
st.dataframe(question_table(latest.get("rows", [])), hide_index=True)
