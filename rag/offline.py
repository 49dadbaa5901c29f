"""Switch off every hidden download before heavy libraries are imported."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
}


def go_offline() -> None:
    """Set the env vars that keep Hugging Face, Chroma and Streamlit from calling out."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
