"""Real console scripts run by tests: a home of their own and the network behind a dead proxy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
DEAD_PROXY = "http://127.0.0.1:9"


def command_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child command: this home, extra settings, no way off loopback."""
    return {
        **os.environ,
        "LAKESAGE_HOME": str(home),
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
        **extra,
    }


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """End a server a test started: politely, then for good."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(
    command: str, *args: str, home: Path, cwd: Path, timeout: float = 600, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run an installed console script (ingest, rag, spark-submit) to its end."""
    return subprocess.run(
        [str(BIN / command), *args],
        capture_output=True,
        text=True,
        env=command_env(home, **extra),
        cwd=cwd,
        timeout=timeout,
    )


def rag_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user with this home and the network behind a dead proxy."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("LAKESAGE_") and not k.startswith("LAKESAGE_TEST_"))
    }
    env.update(
        {
            "LAKESAGE_HOME": str(home),
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
            **extra,
        }
    )
    return env


def run_rag(*args: str, home: Path, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """The installed `rag` script run to its end in rag_env."""
    return subprocess.run(
        [str(BIN / "rag"), *args],
        capture_output=True,
        text=True,
        env=rag_env(home, **extra),
        cwd=cwd,
        timeout=300,
    )
