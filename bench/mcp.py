"""search_docs latency through the MCP protocol: `rag mcp` over stdio, driven by the SDK's client.

Measures the first call after the server starts (the index and model loading in it), then the
warm p50 and p95 over the dev questions (each asked `--rounds` times, k=5). Prints a JSON line.

    python bench/mcp.py --home COPY_OF_INDEX [questions.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np

# Named like the SDK: run as a script, this folder would come first on sys.path and shadow it.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from mcp import Client, StdioServerParameters  # noqa: E402

from rag.evaluate import read_questions  # noqa: E402

DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev.jsonl"


async def measure(home: Path, questions: list[str], rounds: int) -> dict[str, Any]:
    """Start `rag mcp`, time the first search_docs call, then every warm one."""
    env = {**os.environ, "LAKESAGE_HOME": str(home)}
    rag = str(Path(sys.executable).parent / "rag")
    started = time.perf_counter()
    async with Client(StdioServerParameters(command=rag, args=["mcp"], env=env)) as client:
        connected = time.perf_counter() - started
        first_started = time.perf_counter()
        first = await client.call_tool("search_docs", {"query": questions[0], "k": 5})
        first_call = time.perf_counter() - first_started
        if first.is_error:
            raise SystemExit(f"bench/mcp.py: search_docs failed: {first.content}")
        warm = []
        for _ in range(rounds):
            for question in questions:
                call_started = time.perf_counter()
                result = await client.call_tool("search_docs", {"query": question, "k": 5})
                warm.append(time.perf_counter() - call_started)
                assert not result.is_error, result.content
    ms = np.asarray(warm) * 1000
    return {
        "calls": len(warm),
        "connect_ms": round(connected * 1000, 1),
        "first_call_ms": round(first_call * 1000, 1),
        "start_to_first_result_ms": round((connected + first_call) * 1000, 1),
        "warm_p50_ms": round(float(np.percentile(ms, 50)), 2),
        "warm_p95_ms": round(float(np.percentile(ms, 95)), 2),
    }


def main() -> None:
    """Parse the arguments and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path, nargs="?", default=DEV, help="JSONL questions")
    parser.add_argument("--home", type=Path, required=True, help="home of the index to serve")
    parser.add_argument("--rounds", type=int, default=2, help="times each question is asked")
    args = parser.parse_args()
    questions = [q.question for q in read_questions(args.questions)]
    figures = anyio.run(measure, args.home, questions, args.rounds)
    print(json.dumps({"home": str(args.home), **figures}))


if __name__ == "__main__":
    main()
