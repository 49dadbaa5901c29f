"""Files a reader uploads, written into the home's uploads folder for an ingest to read."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_uploads(folder: Path, files: list[Any]) -> list[str]:
    """Write uploaded files into the uploads folder under their base names; returns the names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for upload in files:
        name = Path(upload.name).name
        if not name or name.startswith("."):
            continue
        (folder / name).write_bytes(upload.getvalue())
        names.append(name)
    return names
