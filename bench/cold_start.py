"""Cold start on a real index: `rag ask` from a fresh terminal, and the chat's first answer
after `streamlit run app.py` starts.

    python bench/cold_start.py --home .lakesage [--rounds 5] [--no-chat]

`rag ask` runs --rounds times, each in a new process, first without the saved snapshot (as
after an ingest: it is built and saved), then with it. The chat: the server is started, and
as soon as it answers its health check a headless Debian chromium (Playwright) opens the page
and asks; timed from the server's start to the first words of the answer on screen. Prints a
JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUESTION = "How long does VACUUM keep old files of a Delta table by default?"
CHROMIUM = Path("/usr/bin/chromium")
SNAPSHOT = Path("cache") / "snapshot.pickle"
# The newest assistant message has some text on screen.
ANSWERED = """() => {
  const messages = document.querySelectorAll('[data-testid="stChatMessage"]');
  if (messages.length < 2) return false;
  const content = messages[messages.length - 1].querySelector(
    '[data-testid="stChatMessageContent"]');
  return content !== null && content.innerText.trim().length > 0;
}"""


def env_for(home: Path) -> dict[str, str]:
    """The environment of a user with this home and no other lakesage settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKESAGE_")}
    env["LAKESAGE_HOME"] = str(home)
    return env


def timed_ask(home: Path) -> float:
    """Wall seconds of one `rag ask` in a new process."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "rag"), "ask", QUESTION],
        env=env_for(home),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"rag ask failed: {done.stderr.strip()}")
    return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chat_first_words(home: Path) -> dict[str, float]:
    """Seconds from starting the server to its health check and to the first answer words."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "streamlit"),
            "run",
            "app.py",
            *("--server.port", str(port), "--server.address", "127.0.0.1"),
            *("--server.headless", "true", "--browser.gatherUsageStats", "false"),
            *("--server.fileWatcherType", "none"),
        ],
        cwd=REPO,
        env=env_for(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.05)
        healthy = time.perf_counter()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page()
            page.set_default_timeout(120_000)
            page.goto(url)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for()
            box.fill(QUESTION)
            asked = time.perf_counter()
            box.press("Enter")
            page.wait_for_function(ANSWERED, polling=50)
            answered = time.perf_counter()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "server_start_to_health_s": round(healthy - started, 2),
        "server_start_to_first_words_s": round(answered - started, 2),
        "question_to_first_words_s": round(answered - asked, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-chat", action="store_true")
    args = parser.parse_args()
    home = args.home.resolve()
    saved = home / SNAPSHOT
    without = []
    for _ in range(args.rounds):
        saved.unlink(missing_ok=True)
        without.append(timed_ask(home))
    with_saved = [timed_ask(home) for _ in range(args.rounds)]
    result: dict[str, object] = {
        "home": str(home),
        "rag_ask_without_saved_snapshot_s": round(statistics.median(without), 2),
        "rag_ask_cold_s": round(statistics.median(with_saved), 2),
        "rag_ask_cold_runs_s": [round(t, 2) for t in with_saved],
    }
    if not args.no_chat:
        result["chat"] = chat_first_words(home)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
