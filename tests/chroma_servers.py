"""Real `chroma run` servers on loopback for tests, started with a quiet environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.commands import stop

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment without the test's LAKESAGE_* settings and with a dead proxy."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("LAKESAGE_") and not k.startswith("LAKESAGE_TEST_"))
    }
    dead = "http://127.0.0.1:9"
    env.update({"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": "127.0.0.1,localhost"})
    env.update({"ANONYMIZED_TELEMETRY": "False", "DO_NOT_TRACK": "1", **extra})
    return env


def start_server(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`chroma run` on a free loopback port, once its heartbeat answers."""
    port = free_port()
    log = (path.parent / f"{path.name}.log").open("wb")
    process = subprocess.Popen(
        [BIN / "chroma", "run", "--path", path, "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=quiet_env(),
    )
    url = f"http://127.0.0.1:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    while True:
        try:
            with direct.open(f"{url}/api/v2/heartbeat", timeout=1) as reply:
                if reply.status == 200:
                    return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                pytest.fail(f"chroma run did not start; see {log.name}")
            time.sleep(0.1)
