"""Timing whole plugin processes, shared by the bench scripts."""

from __future__ import annotations

import shutil
import subprocess
import time

# GNU time reports a process's own peak RSS; a child forked straight from a
# large Python process would count the parent's pages as well.
GNU_TIME = shutil.which("time", path="/usr/bin")


def measure(argv: list[str], runs: int) -> tuple[list[float], float | None]:
    """Wall times of the runs (s), and the largest peak RSS of one run (MiB, if known).
    With GNU time the wall time includes its own start, about a millisecond."""
    times, peak = [], None
    for _ in range(runs):
        start = time.perf_counter()
        if GNU_TIME:
            proc = subprocess.run([GNU_TIME, "-f", "%M", *argv], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            peak = max(peak or 0, int(proc.stderr.strip().splitlines()[-1]) / 1024)
        else:
            subprocess.run(argv, capture_output=True)
        times.append(time.perf_counter() - start)
    return times, peak
