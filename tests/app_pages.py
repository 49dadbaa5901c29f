"""The Streamlit app's pages as AppTest drives them, and waiting for the Ingest page's run."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

CHAT, INGEST, EVALUATE = "ui/pages/chat.py", "ui/pages/ingest.py", "ui/pages/evaluate.py"
TIMEOUT = 120


def wait_for_ingest(at: AppTest) -> None:
    """Rerun the Ingest page until its background run reports, failing on any error."""
    deadline = time.monotonic() + TIMEOUT
    while not at.success and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        assert not at.exception and not at.error
    assert at.success, "the ingest did not finish in time"
