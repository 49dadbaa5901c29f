"""bench/machine.py: the CPU a benchmark ran on, read from /proc/cpuinfo."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent / "bench"


def machine() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_machine", BENCH / "machine.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_widest_int8_instructions_and_the_model_are_read(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C\n"
        "flags\t\t: fpu sse4_2 avx2 avx512bw avx512_vnni amx_int8 amx_tile\n\n"
        "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: fpu\n"
    )
    found = machine().describe(cpuinfo)
    assert (found["cpu"], found["int8"]) == ("Intel(R) Xeon(R) Platinum 8481C", "amx_int8")
    assert machine().line(found).endswith("cores, int8 via amx_int8")


def test_a_machine_without_cpuinfo_is_described_still(tmp_path: Path) -> None:
    found = machine().describe(tmp_path / "missing")
    assert found["int8"] == "unknown" and found["cores"]
