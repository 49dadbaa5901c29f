"""The in-memory snapshot of the index saved beside it, so a new process starts without reading
every chunk from Chroma and rebuilding the keyword index: valid for one index stamp (what each
finished ingest changes) and one version of the code that builds it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.retrieval import Snapshot

HERE = Path(__file__).resolve().parent
# The modules whose classes and tokenizer a saved snapshot holds: a change to any of them
# makes older copies stale.
BUILT_BY = ("retrieval.py", "keywords.py", "names.py", "models.py", "question.py")


@lru_cache(maxsize=1)
def code_version() -> str:
    """A digest of the code a saved snapshot depends on."""
    digest = hashlib.sha256()
    for name in BUILT_BY:
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def read(path: Path, stamp: str) -> Snapshot | None:
    """The snapshot saved at path for this stamp, or None when there is none, it was saved for
    another stamp or code, or it cannot be read (it is then simply built again)."""
    try:
        with path.open("rb") as file:
            # Pickle, like Chroma's own segment files in the same home: only the owner of the
            # home folder writes it.
            saved: dict[str, Any] = pickle.load(file)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    if saved.get("stamp") != stamp or saved.get("code") != code_version():
        return None
    snapshot: Snapshot = saved["snapshot"]
    return snapshot


def write(path: Path, stamp: str, snapshot: Snapshot) -> None:
    """Save the snapshot for this stamp, whole or not at all (readers never see half a file);
    a home that cannot be written only means the next start builds it again."""
    snapshot.warm()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as file:
                data = {"stamp": stamp, "code": code_version(), "snapshot": snapshot}
                pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
