"""What every embedder shares: the model's folder and tokenizer, batching and normalisation."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from rag.errors import ModelNotFoundError
from rag.packaged_models import PACKAGED_MODELS, packaged

if TYPE_CHECKING:
    from rag.settings import Settings


def resolve_model_path(name: str) -> Path:
    """The local folder of a packaged model name or a path to a sentence-transformers folder."""
    if model := packaged(name):
        return model.path()
    path = Path(name).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"embedding model {name!r} is neither a packaged model ({', '.join(PACKAGED_MODELS)}) "
            "nor a local sentence-transformers folder; set LAKESAGE_EMBED_MODEL to one"
        )
    return path


def read_max_tokens(model_path: Path) -> int:
    """The word pieces the model reads before truncating (sentence-transformers' max_seq_length)."""
    config = model_path / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


def read_dim(model_path: Path) -> int:
    """The model's vector dimensions, from its pooling config or its transformer config."""
    pooling = model_path / "1_Pooling" / "config.json"
    if pooling.is_file():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((model_path / "config.json").read_text())["hidden_size"])


class Tokenizer:
    """The model's own fast tokenizer, loaded from its folder."""

    def __init__(self, model_path: Path, max_tokens: int | None = None) -> None:
        from tokenizers import Tokenizer as FastTokenizer

        self.model_path = model_path
        self.max_tokens = read_max_tokens(model_path) if max_tokens is None else max_tokens
        self._tok = FastTokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()

    @cached_property
    def _truncating(self) -> Any:
        """A copy that truncates as the model does; the counting one never truncates, and
        one instance cannot switch between the two while other threads use it."""
        from tokenizers import Tokenizer as FastTokenizer

        tok = FastTokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tok.enable_truncation(max_length=self.max_tokens)
        tok.no_padding()
        return tok

    def is_word(self, word: str) -> bool:
        """Whether the vocabulary holds this word as one piece."""
        return self._tok.token_to_id(word) is not None

    def count(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, [CLS] and [SEP] included."""
        if not texts:
            return []
        return [len(enc.ids) for enc in self._tok.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str]) -> list[Any]:
        """Each text's encoding as the model reads it: special tokens, truncated, unpadded."""
        if not texts:
            return []
        return list(self._truncating.encode_batch(list(texts)))

    def token_id(self, piece: str) -> int | None:
        """The id of a vocabulary piece, or None."""
        return self._tok.token_to_id(piece)

    def vocab(self) -> dict[str, int]:
        """Every vocabulary piece and its id, special tokens included."""
        return dict(self._tok.get_vocab(with_added_tokens=True))


class BaseEmbedder(ABC):
    """A backend embeds one batch; this base counts tokens, checks words, batches texts of
    similar length together and L2-normalises every row."""

    def __init__(self, name: str, model_path: Path, batch_size: int = 32) -> None:
        self.name = name
        self.model_path = model_path
        self.batch_size = batch_size
        self.packaged = packaged(name)  # how a packaged model runs; None for a local folder
        model = self.packaged
        self.tokenizer = Tokenizer(model_path, model.max_tokens if model else None)
        self.max_tokens = self.tokenizer.max_tokens
        # What a question is prefixed with before it is embedded (bge's retrieval instruction).
        self.query_prefix = model.query_prefix if model else ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The embedder the settings describe."""
        model_path = resolve_model_path(settings.embed_model)
        return cls(settings.embed_model, model_path, settings.embed_batch_size)

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], encodings: Sequence[Any]) -> np.ndarray:
        """Vectors of one batch of texts of similar length, one row each, not yet normalised;
        encodings are the texts' word pieces as the model reads them (Tokenizer.encode)."""

    @cached_property
    def dim(self) -> int:
        """Vector dimensions, read from the model's config (no weights loaded)."""
        return read_dim(self.model_path)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as a float32 matrix, one L2-normalised row per text, in input order."""
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return result
        encodings = self.tokenizer.encode(texts)
        # Neighbours in word pieces share a batch, so each is padded only to its own longest:
        # on real chunks that pads 0.5% where sorting by characters pads 39%.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        runs = (([texts[i] for i in batch], [encodings[i] for i in batch]) for batch in batches)
        for batch, vectors in zip(batches, self.run_batches(runs), strict=True):
            vectors = np.asarray(vectors, dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            result[batch] = vectors / np.clip(norms, 1e-12, None)
        return result

    def run_batches(
        self, batches: Iterable[tuple[Sequence[str], Sequence[Any]]]
    ) -> Iterator[np.ndarray]:
        """embed_batch() of each (texts, encodings) batch, in order."""
        for texts, encodings in batches:
            yield self.embed_batch(texts, encodings)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text as the model reads it, special tokens included."""
        return self.tokenizer.count(texts)

    def is_word(self, word: str) -> bool:
        """Whether the model's vocabulary holds this lowercase word whole."""
        return self.tokenizer.is_word(word)
