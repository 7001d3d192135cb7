#!/usr/bin/env python3
"""check_senders and check_refusals on a big Postfix log, beside pflogsumm.

    python bench/logs.py [--lines 1000000] [--runs 3]

A log of about ``--lines`` lines (six hours of mail from 40 senders, with
retries, refusals and connection noise) is written to a temporary folder.
Then, each as a whole process, with its wall time, its own CPU time and
its peak memory:

- a first run over the whole log (no state yet: every line is read);
- an incremental run after 10,000 new lines, from the state the first left;
- the first run again over a quarter of the log: memory should not grow
  with the log, only with the window's aggregate;
- pflogsumm (Debian's Perl log summariser, when installed) over the same
  log: it has no incremental mode, so each of its runs reads everything.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from measure import Sample, run

from check_mail.simulation.postfixlog import busy_log

LINES_PER_MESSAGE = 14.0  # what busy_log writes per message with noise=4, on average


def installed(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        sys.exit(f"{name} is not installed: pip install .")
    return found


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def append(path: Path, lines: int, seed: int) -> None:
    """About ``lines`` more lines of the last minutes, as a live log grows."""
    more = path.with_suffix(".more")
    busy_log(str(more), int(lines / LINES_PER_MESSAGE), seed=seed, noise=4,
             start=time.time() - 300)
    with open(path, "ab") as out, open(more, "rb") as extra:
        shutil.copyfileobj(extra, out)
    more.unlink()


def show(name: str, samples: list[Sample]) -> None:
    wall = statistics.median(s.wall for s in samples)
    cpu = statistics.median(s.cpu for s in samples)
    peaks = [s.rss for s in samples if s.rss is not None]
    memory = f"{max(peaks):7.1f} MiB" if peaks else "      ? MiB"
    print(f"  {name:<44} wall {wall:6.2f} s  cpu {cpu:6.2f} s  peak {memory}")
    if samples[-1].output:
        print(f"  {'':<44} {samples[-1].output[:100]}")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--lines", type=int, default=1_000_000)
    options.add_argument("--runs", type=int, default=3)
    args = options.parse_args()
    senders, refusals = installed("check_senders"), installed("check_refusals")
    pflogsumm = shutil.which("pflogsumm")
    with tempfile.TemporaryDirectory(prefix="check-mail-bench-") as tmp:
        folder = Path(tmp)
        log, quarter = folder / "mail.log", folder / "quarter.log"
        messages = int(args.lines / LINES_PER_MESSAGE)
        busy_log(str(log), messages, noise=4)
        busy_log(str(quarter), messages // 4, noise=4)
        print(f"log: {count_lines(log)} lines, {log.stat().st_size / 2**20:.0f} MiB; "
              f"quarter: {count_lines(quarter)} lines; {args.runs} runs each, medians\n")
        for name, plugin, extra in (("check_senders", senders, []),
                                    ("check_refusals", refusals, ["--no-queue",
                                                                  "--window", "24h"])):
            print(f"{name}:")
            base = [plugin, "-t", "60", *extra]
            firsts, increments = [], []
            for i in range(args.runs):
                state = folder / f"{name}-{i}.json"
                firsts.append(run([*base, "--log", str(log), "--state-file", str(state)]))
            show("first run, whole log", firsts)
            for i in range(args.runs):
                append(log, 10_000, seed=100 + i)
                increments.append(run([*base, "--log", str(log), "--state-file",
                                       str(folder / f"{name}-{i}.json")]))
            show("incremental, 10,000 new lines", increments)
            show("first run, a quarter of the log", [
                run([*base, "--log", str(quarter), "--no-state"]) for _ in range(args.runs)])
            print(f"  state file: {(folder / f'{name}-0.json').stat().st_size / 1024:.0f} KiB\n")
        if pflogsumm:
            print("pflogsumm (reads everything, every run):")
            show("whole log", [run([pflogsumm, str(log)]) for _ in range(args.runs)])
            show("a quarter of the log", [run([pflogsumm, str(quarter)])
                                          for _ in range(args.runs)])
        else:
            print("pflogsumm is not installed (apt-get install pflogsumm): not compared")


if __name__ == "__main__":
    main()
