"""The machine a benchmark ran on: CPU model, cores and the widest int8 instructions it has.

Figures move with the CPU, not only with its speed: ONNX Runtime's int8 matrix kernels differ
between AMX, VNNI and plain AVX2, so the int8 vectors (and with them near-tie rankings) differ
slightly from one machine to another. A figure is comparable with another taken on the same
kind of machine.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# Widest first: the int8 matrix instructions ONNX Runtime's CPU kernels use when present.
INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512bw", "avx2")


def describe(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """CPU model, core count and int8 instruction set (the first of INT8_FLAGS it has)."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
            if flags and model:
                break
    except OSError:
        pass
    int8 = next((flag for flag in INT8_FLAGS if flag in flags), "unknown")
    return {"cpu": model, "cores": os.cpu_count(), "int8": int8}


def line(machine: dict[str, Any]) -> str:
    """One line for a report: 'AMD EPYC, 2 cores, int8 via avx2'."""
    return f"{machine['cpu']}, {machine['cores']} cores, int8 via {machine['int8']}"
