"""The README as test data: its console examples, run again against
``check-mail demo --serve``, and its option tables, generated from each
plugin's own parser so that the two cannot drift apart.

    python -m tests.helpers.readme            prints every option table, to paste
"""

from __future__ import annotations

import importlib
import re
import shlex
from dataclasses import dataclass

from tests.helpers.plugins import ROOT

README = ROOT / "README.md"
PLUGINS = ("check_rbl", "check_ptr", "check_postmaster", "check_spf", "check_dkim",
           "check_relay", "check_dmarc", "check_tls", "check_senders", "check_refusals")
# What the examples assume of `check-mail demo --serve`.
DNS, SMTP, HTTPS, FILES = "127.0.0.1:10053", "10025", "10443", "/tmp/check-mail-demo"


@dataclass
class Example:
    command: list[str]
    output: list[str]
    line: int  # where the command is in README.md


def examples(text: str | None = None) -> list[Example]:
    """Every "$ command" in a ```console block, with the lines it printed."""
    text = README.read_text() if text is None else text
    found: list[Example] = []
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            inside = line.strip() == "```console"
            continue
        if not inside:
            continue
        if line.startswith("$ "):
            found.append(Example(shlex.split(line[2:]), [], number))
        elif found and line:
            found[-1].output.append(line)
    return found


VARYING = [
    (re.compile(r"time=[0-9.]+s"), "time=Xs"),
    (re.compile(r"check-mail-[0-9a-f]{10}@"), "check-mail-RANDOM@"),
    (re.compile(r"\(\d+ plugins, [0-9.]+ s\)"), "(N plugins, X s)"),
    # The demo's certificates are made afresh for each run: their digests and dates.
    (re.compile(r"\b[0-9a-f]{64}\b"), "DIGEST"),
    (re.compile(r"\b20[0-9]{2}-[01][0-9]-[0-3][0-9]\b"), "DATE"),
    # The demo's mail log ends when the demo started: its senders' times and
    # the age of the oldest message in the queue.
    (re.compile(r"DATE [0-2][0-9]:[0-5][0-9]\b"), "DATE TIME"),
    (re.compile(r"\boldest=[0-9]+s"), "oldest=Xs"),
    # Python 3.9 shows a server's own certificate only, and check_tls -v says so.
    (re.compile(r", chain not shown by this Python"), ""),
]


def normal(line: str) -> str:
    """A line with what varies from run to run (times, random local parts) masked."""
    for pattern, replacement in VARYING:
        line = pattern.sub(replacement, line)
    return line


def option_table(name: str) -> list[str]:
    """The README's option table for a plugin, as its parser defines it."""
    check = importlib.import_module(f"check_mail.checks.{name.removeprefix('check_')}")
    parser = check.parser()
    formatter = parser._get_formatter()
    rows = ["| option | meaning |", "| --- | --- |"]
    for action in parser._actions:
        strings = ", ".join(action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or (
                "{" + ",".join(action.choices) + "}" if action.choices else action.dest.upper())
            strings += f" {metavar}"
        meaning = formatter._expand_help(action).replace("|", "\\|")
        rows.append(f"| `{strings}` | {meaning} |")
    return rows


def readme_table(name: str, text: str | None = None) -> list[str]:
    """The option table in the plugin's section of the README."""
    text = README.read_text() if text is None else text
    section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
    start = section.index("| option | meaning |")
    lines = section[start:].splitlines()
    return lines[:next((i for i, line in enumerate(lines) if not line.startswith("|")),
                       len(lines))]


if __name__ == "__main__":
    for plugin in PLUGINS:
        print(f"{plugin}:\n" + "\n".join(option_table(plugin)) + "\n")
