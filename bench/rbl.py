#!/usr/bin/env python3
"""Time the whole check_rbl process against N zones that each answer after a delay.

    python bench/rbl.py [--zones 200] [--delay 0.1] [--runs 10]

The scripted nameserver runs in this process on loopback; every zone answers
NXDOMAIN after --delay seconds. Prints wall time (process start included) and
peak memory of check_rbl, and the cost of --version and --help.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from check_mail.simulation.dnsserver import ScriptedNameserver


def plugin() -> str:
    found = shutil.which("check_rbl", path=str(Path(sys.executable).parent))
    found = found or shutil.which("check_rbl")
    if not found:
        sys.exit("check_rbl is not installed: pip install .")
    return found


def timed(argv: list[str], runs: int) -> tuple[list[float], int, str]:
    """Wall times of the runs, the peak RSS of the largest run (KiB), and the last output."""
    times, peak, out = [], 0, ""
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
        out = proc.stdout.splitlines()[0] if proc.stdout else proc.stderr
    return times, peak, out


def show(label: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    print(f"{label:<34} min {ms[0]:7.1f} ms   median {statistics.median(ms):7.1f} ms   "
          f"max {ms[-1]:7.1f} ms   ({len(ms)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zones", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    exe = plugin()

    with tempfile.TemporaryDirectory() as tmp:
        zones = Path(tmp) / "zones.ini"
        zones.write_text("".join(f"[bl{i}.bench.example]\nfamilies = ipv4\n\n"
                                 for i in range(args.zones)))
        with ScriptedNameserver(delay=args.delay) as dns:
            argv = [exe, "-H", "192.0.2.25", "--zones-file", str(zones), "-n", dns.address]
            subprocess.run(argv, capture_output=True)  # warm the page cache
            times, peak, out = timed(argv, args.runs)
            queries = len(dns.log)

    print(f"check_rbl: {args.zones} zones, each answering after {args.delay * 1000:.0f} ms, "
          f"one address ({queries // (args.runs + 1)} queries a run)")
    print(f"  output: {out}")
    show("check_rbl -H (whole process)", times)
    print(f"{'peak memory (max RSS)':<34} {peak / 1024:.1f} MiB")
    show("check_rbl --version", timed([exe, "--version"], args.runs)[0])
    show("check_rbl --help", timed([exe, "--help"], args.runs)[0])
    show("python3 -c pass (floor)", timed([sys.executable, "-c", "pass"], args.runs)[0])


if __name__ == "__main__":
    main()
