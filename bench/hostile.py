#!/usr/bin/env python3
"""Peak memory and time of the log checks against hostile local input.

    python bench/hostile.py [--tree DIR]

Each case is one whole check_refusals process (GNU time's peak RSS, wall
time), and its status line:

- a ``postqueue`` that prints without end (``yes``), and one that hangs;
- a rotated ``.gz`` of 76 MB of log whose saved position lies near its end
  (after logrotate compressed the file the last run had read), and the same
  file with a hostile position of 2 GB;
- a gzip bomb: a rotated ``.gz`` of a few MB that unpacks to 2 GB of one
  endless line.

``--tree DIR`` runs another checkout's code instead (an older commit in a
``git worktree``), to show the figures before and after a change.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from measure import run

ROOT = Path(__file__).resolve().parents[1]


def plugin(tree: Path, *args: str) -> list[str]:
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from check_mail.checks import run; " \
           "run('refusals')"
    return [sys.executable, "-c", code, *args]


def state_at(folder: Path, log: Path, rotated: Path, offset: int) -> Path:
    """A state file as check_refusals keeps it, positioned ``offset`` octets
    into ``rotated`` (the file the last run read, since compressed)."""
    from check_mail import maillog

    state = folder / "state.json"
    identity = (f"refusals {log} window=3600 signatures=")
    state.write_text(json.dumps({
        "version": 1, "identity": identity,
        "positions": [[str(log), maillog.fingerprint(str(rotated)), offset]],
        "cursor": "", "pending": {}, "minutes": {}, "extra": {}}))
    return state


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--tree", type=Path, default=ROOT, help="the checkout to run")
    tree = options.parse_args().tree.resolve()
    with tempfile.TemporaryDirectory(prefix="check-mail-hostile-") as name:
        root = Path(name)
        root.chmod(0o700)
        quiet = root / "quiet"  # an empty log: the queue alone is measured
        folder = root / "rotated"
        for sub in (quiet, folder):
            sub.mkdir(mode=0o700)
            (sub / "mail.log").write_text("")
        log = folder / "mail.log"
        flood = root / "flood"
        flood.write_text("#!/bin/sh\nexec yes '{\"queue_name\": \"deferred\"}'\n")
        hang = root / "hang"
        hang.write_text("#!/bin/sh\nexec sleep 60\n")
        for script in (flood, hang):
            script.chmod(0o755)
        rotated = folder / "mail.log.1.gz"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 7200))
        line = (f"{stamp} mx postfix/smtp[1]: 0A1B2C3D4E: to=<a@example.org>, relay=none, "
                f"delay=1, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.1]:25:"
                f" Connection timed out)\n").encode()
        size = 76 << 20
        with gzip.open(rotated, "wb", compresslevel=1) as out:
            for _ in range(size // len(line)):
                out.write(line)
        cases = [
            ("postqueue floods", [str(quiet / "mail.log"), "--no-state", "--postqueue",
                                  str(flood)], None),
            ("postqueue hangs", [str(quiet / "mail.log"), "--no-state", "--postqueue",
                                 str(hang)], None),
            ("position near the end of a 76 MB .gz", [str(log), "--no-queue"],
             size - len(line) * 10),
            ("hostile position of 2 GB in it", [str(log), "--no-queue"], 2 << 30),
        ]
        print(f"check_refusals from {tree}; -t 4; peak RSS and wall time per run")
        for label, args, offset in cases:
            extra = []
            if offset is not None:
                extra = ["--state-file", str(state_at(folder, log, rotated, offset))]
            sample = run(plugin(tree, "--log", *args, *extra, "-t", "4"))
            rss = f"{sample.rss:7.1f} MiB" if sample.rss is not None else "      ? MiB"
            print(f"  {label:40} {rss} {sample.wall:6.2f} s  {sample.output[:110]}")
        bomb = folder / "mail.log.1.gz"
        with gzip.open(bomb, "wb", compresslevel=9) as out:
            block = b"z" * (1 << 20)
            for _ in range(2048):
                out.write(block)
        os.utime(bomb, None)
        sample = run(plugin(tree, "--log", str(log), "--no-state", "--no-queue", "--window",
                            "7d", "-t", "4"))
        rss = f"{sample.rss:7.1f} MiB" if sample.rss is not None else "      ? MiB"
        print(f"  {'gzip bomb: ' + str(bomb.stat().st_size >> 20) + ' MB to 2 GB, no newline':40}"
              f" {rss} {sample.wall:6.2f} s  {sample.output[:110]}")


if __name__ == "__main__":
    main()
