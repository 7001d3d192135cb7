"""Timing whole plugin processes, shared by the bench scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import NamedTuple

# GNU time reports a process's own peak RSS; a child forked straight from a
# large Python process would count the parent's pages as well.
GNU_TIME = shutil.which("time", path="/usr/bin")


class Sample(NamedTuple):
    wall: float  # seconds, process start to exit
    cpu: float  # seconds of user and system time of the process itself
    rss: float | None  # peak resident memory, MiB, when GNU time is there
    output: str  # the first line it printed


def run(argv: list[str]) -> Sample:
    """One run of a command: its wall time (GNU time's own start, about a
    millisecond, included), its CPU time to the microsecond (the kernel's
    account of the process and what it waited for), and its peak memory
    (from GNU time, when it is there)."""
    import tempfile

    command = [GNU_TIME, "-f", "%M", *argv] if GNU_TIME else argv
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err)
        _, _, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = 0  # reaped above
        out.seek(0)
        err.seek(0)
        first = out.read().decode(errors="replace").split("\n", 1)[0]
        peak = int(err.read().decode().strip().splitlines()[-1]) / 1024 if GNU_TIME else None
    return Sample(wall, usage.ru_utime + usage.ru_stime, peak, first)


def measure(argv: list[str], runs: int) -> tuple[list[float], float | None]:
    """Wall times of the runs (s), and the largest peak RSS of one run (MiB, if known)."""
    samples = [run(argv) for _ in range(runs)]
    peaks = [s.rss for s in samples if s.rss is not None]
    return [s.wall for s in samples], max(peaks) if peaks else None
