#!/usr/bin/env python3
"""check_rbl beside pydnsbl, whole processes, interleaved in one run.

    python bench/rbl.py [--runs 10]

A scripted nameserver in this process answers every query after a fixed
delay (NXDOMAIN: nothing is listed). Two cases, as in issue 16:

- one address against 200 zones, each answering after 100 ms;
- a /24 against 20 zones (5120 queries), each answering after 50 ms,
  check_rbl with --rate 0 (no pacing) against pydnsbl's bulk_check.

Each process's own CPU time (user + system) is reported beside its wall
time and peak memory: the nameserver shares the two cores and costs CPU too.
pydnsbl (pip install pydnsbl) is run by this interpreter; without it only
check_rbl is timed. Then --version and --help against a bare python.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from measure import Sample, run

from check_mail.simulation.dnsserver import ScriptedNameserver

HERE = Path(__file__).resolve().parent


def plugin() -> str:
    found = shutil.which("check_rbl", path=str(Path(sys.executable).parent))
    found = found or shutil.which("check_rbl")
    if not found:
        sys.exit("check_rbl is not installed: pip install .")
    return found


def has_pydnsbl() -> bool:
    try:
        import pydnsbl  # noqa: F401
    except ImportError:
        return False
    return True


def row(label: str, samples: list[Sample]) -> str:
    wall = statistics.median(s.wall for s in samples) * 1000
    cpu = statistics.median(s.cpu for s in samples) * 1000
    least = min(s.cpu for s in samples) * 1000
    peaks = [s.rss for s in samples if s.rss is not None]
    peak = f"{max(peaks):7.1f} MiB" if peaks else "        ?"
    return f"  {label:<26}{wall:9.1f} ms{cpu:9.1f} ms{least:9.1f} ms   {peak}"


def case(title: str, commands: dict[str, list[str]], runs: int, queries: int) -> None:
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    for argv in commands.values():  # warm the page cache
        run(argv)
    order = list(commands.items())
    for _ in range(runs):
        for name, argv in order:  # interleaved, first one then the other first:
            samples[name].append(run(argv))  # the same load for each
        order.reverse()
    print(f"\n{title}\n  {'':<26}{'wall':>12}{'CPU':>12}{'least CPU':>12}   peak memory   "
          f"(medians of {runs})")
    for name, found in samples.items():
        print(row(name, found) + f"   {found[-1].output[:60]}")
        cpu = statistics.median(s.cpu for s in found)
        print(f"  {'':<26}{cpu * 1000 / queries * 100:9.1f} ms of CPU per 100 queries")
    if len(samples) == 2:
        (a, one), (b, other) = samples.items()
        wall = statistics.median(s.wall for s in one) / statistics.median(s.wall for s in other)
        cpu = statistics.median(s.cpu for s in one) / statistics.median(s.cpu for s in other)
        print(f"  {a} / {b}: wall x{wall:.2f}, CPU x{cpu:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    exe, peer = plugin(), has_pydnsbl()
    if not peer:
        print("pydnsbl is not installed (pip install pydnsbl): check_rbl alone")
    with tempfile.TemporaryDirectory() as tmp:
        for zones, delay, target, label in ((200, 0.1, ["192.0.2.25"], "one address"),
                                            (20, 0.05, ["192.0.2.0/24"], "a /24")):
            ini, plain = Path(tmp) / f"zones{zones}.ini", Path(tmp) / f"zones{zones}.txt"
            names = [f"bl{i}.bench.example" for i in range(zones)]
            ini.write_text("".join(f"[{name}]\nfamilies = ipv4\n\n" for name in names))
            plain.write_text("".join(f"{name}\n" for name in names))
            addresses = ([f"192.0.2.{i}" for i in range(256)] if target[0].endswith("/24")
                         else target)
            with ScriptedNameserver(delay=delay) as dns:
                commands = {"check_rbl": [exe, "-H", target[0], "--zones-file", str(ini),
                                          "-n", dns.address, "--rate", "0", "-t", "30"]}
                if peer:
                    commands["pydnsbl"] = [sys.executable, str(HERE / "pydnsbl_peer.py"),
                                           dns.address, str(plain), *addresses]
                case(f"{label} against {zones} zones answering after {delay * 1000:.0f} ms "
                     f"({zones * len(addresses)} queries)", commands, args.runs,
                     zones * len(addresses))
    print("\nstart-up")
    for label, argv in (("check_rbl --version", [exe, "--version"]),
                        ("check_rbl --help", [exe, "--help"]),
                        ("python3 -c pass", [sys.executable, "-c", "pass"])):
        print(row(label, [run(argv) for _ in range(args.runs)]))


if __name__ == "__main__":
    main()
