"""Evaluate: run a question set through retrieval and answers; compare the runs kept on disk."""

from __future__ import annotations

import inspect
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from rag.errors import LakesageError
from rag.evaluate import FIGURE_HELP, KS, evaluate, is_gold, read_questions
from rag.settings import PROJECT_ROOT
from ui.admin_gate import admin_gate
from ui.errors import stop_with_error
from ui.eval_runs import load_runs, new_run, question_table, save_run, show_progress
from ui.knowledge_base import index_status
from ui.page_setup import page_setup

DEFAULT_QUESTIONS = PROJECT_ROOT.parent / "shared" / "eval" / "dev.jsonl"
EVAL_K = 10
ROW_PX = 35  # st.dataframe's row height: the figures table is sized to show every figure

session = page_setup("Evaluate")
kb = session.kb
engine = kb.settings.engine
runs_dir = session.settings.home / "evals"

st.title("Evaluate")
if not index_status(kb):
    st.info("There is no index to evaluate yet: add documents on the **Ingest** page first.")
    st.stop()

path = st.text_input("Questions file (JSONL)", value=str(DEFAULT_QUESTIONS), key="eval-path")
label = st.text_input("Run label", key="eval-label", placeholder="e.g. keyword weight 1.5")
st.caption(f"Answers use the sidebar's engine ({engine}); retrieval is scored at k={EVAL_K}.")

may_run = admin_gate(session.settings, "Running an evaluation")
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
            kb,
            questions,
            k=EVAL_K,
            progress=lambda done, total: show_progress(bar, done, total),
        )
    except LakesageError as exc:
        stop_with_error(str(exc))
    run = new_run(questions, figures, rows, label=label, questions_file=str(path), engine=engine)
    save_run(runs_dir, run)
    bar.empty()
    st.session_state["eval-runs"] = [run["id"]]

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
