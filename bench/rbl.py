#!/usr/bin/env python3
"""Time the whole check_rbl process against N zones that each answer after a delay.

    python bench/rbl.py [--zones 200] [--delay 0.1] [--runs 10]

The scripted nameserver runs in this process on loopback; every zone answers
NXDOMAIN after --delay seconds. Prints wall time (process start included) and
peak memory of check_rbl, and the cost of --version and --help.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import measure

from check_mail.simulation.dnsserver import ScriptedNameserver


def plugin() -> str:
    found = shutil.which("check_rbl", path=str(Path(sys.executable).parent))
    found = found or shutil.which("check_rbl")
    if not found:
        sys.exit("check_rbl is not installed: pip install .")
    return found


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
            first = subprocess.run(argv, capture_output=True, text=True)  # warms the cache
            times, peak = measure(argv, args.runs)
            queries = len(dns.log)
    out = first.stdout.splitlines()[0] if first.stdout else first.stderr

    print(f"check_rbl: {args.zones} zones, each answering after {args.delay * 1000:.0f} ms, "
          f"one address ({queries // (args.runs + 1)} queries a run)")
    print(f"  output: {out}")
    show("check_rbl -H (whole process)", times)
    if peak:
        print(f"{'peak memory (max RSS)':<34} {peak:.1f} MiB")
    show("check_rbl --version", measure([exe, "--version"], args.runs)[0])
    show("check_rbl --help", measure([exe, "--help"], args.runs)[0])
    show("python3 -c pass (floor)", measure([sys.executable, "-c", "pass"], args.runs)[0])


if __name__ == "__main__":
    main()
