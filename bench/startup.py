#!/usr/bin/env python3
"""Time the start-up of every plugin: --version and --help, whole processes.

    python bench/startup.py [--runs 30] [--against /other/venv/bin]

A monitoring server starts plugins thousands of times an hour, so the cost of
starting one counts. Prints the median wall time per plugin for this install
and, with --against, for another one (an older release, say), runs
interleaved so that both meet the same machine load; and the floor, a bare
``python3 -c pass``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PLUGINS = ("check_rbl", "check_ptr", "check_postmaster", "check_spf", "check_dkim",
           "check_relay", "check_dmarc", "check_tls", "check_senders", "check_refusals")


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--against", type=Path, metavar="BIN",
                        help="another install's bin folder, timed in the same runs")
    args = parser.parse_args()
    installs = {"this": Path(sys.executable).parent}
    if args.against:
        installs["against"] = args.against
    floor = [wall([sys.executable, "-c", "pass"]) for _ in range(args.runs)]
    print(f"python3 -c pass: {statistics.median(floor) * 1000:.1f} ms (median of {args.runs})")
    print(f"{'plugin':<18}{'option':<11}" + "".join(f"{name:>12}" for name in installs)
          + "   (median ms)")
    for plugin in PLUGINS:
        for option in ("--version", "--help"):
            times: dict[str, list[float]] = {name: [] for name in installs}
            for _ in range(args.runs):
                for name, folder in installs.items():  # interleaved: same load for both
                    times[name].append(wall([str(folder / plugin), option]))
            print(f"{plugin:<18}{option:<11}" + "".join(
                f"{statistics.median(t) * 1000:>12.1f}" for t in times.values()))


if __name__ == "__main__":
    main()
