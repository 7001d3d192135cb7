"""Running several installed plugins at once, and reading their answers at a glance.

The demo and ``check-mail -H ... -D ...`` start the plugins as a monitoring
system would, all at once, and show one line per plugin: its state, aligned
and coloured on a terminal (never when piped, nor with NO_COLOR set), and
its summary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
SKIPPED = "SKIPPED"
_COLOURS = {"OK": "32", "WARNING": "33", "CRITICAL": "31", "UNKNOWN": "35", SKIPPED: "2"}
_STATUS = re.compile(r"^(\S+) (OK|WARNING|CRITICAL|UNKNOWN)(?: - (.*?))?(?: \| .*)?$")


@dataclass
class PluginRun:
    """One plugin's command line and what it answered (or why it did not run)."""

    command: list[str]  # the plugin's name, then its arguments
    code: int | None = None  # None: skipped
    output: str = ""
    skipped: str = ""  # why it did not run

    @property
    def state(self) -> str:
        return SKIPPED if self.code is None else STATES.get(self.code, f"exit {self.code}")

    @property
    def label(self) -> str:
        """The plugin's own name for itself (RBL, PTR, ...)."""
        match = _STATUS.match(self.output.partition("\n")[0])
        return match.group(1) if match else self.command[0].removeprefix("check_").upper()

    @property
    def summary(self) -> str:
        """The status line without name, state and perfdata."""
        if self.code is None:
            return self.skipped
        first = self.output.partition("\n")[0]
        match = _STATUS.match(first)
        return (match.group(3) or "") if match else first


def plugin_path(name: str) -> str:
    """The installed plugin beside this interpreter, else the one on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        raise SystemExit(f"check-mail: {name} is not installed (pip install check-mail)")
    return found


def run_all(commands: list[list[str]], timeout: float = 60.0) -> list[PluginRun]:
    """Run the plugins at once; results in the same order. A plugin ends within
    its own -t; ``timeout`` only guards against one that does not."""

    def one(command: list[str]) -> PluginRun:
        try:
            proc = subprocess.run([plugin_path(command[0]), *command[1:]], capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return PluginRun(command, 3, f"{command[0]} did not end within {timeout:g} s")
        return PluginRun(command, proc.returncode, proc.stdout + proc.stderr)

    with ThreadPoolExecutor(max_workers=max(1, len(commands))) as pool:
        return list(pool.map(one, commands))


def worst(runs: list[PluginRun]) -> int:
    """The exit code of the lot: the worst state among the plugins that ran."""
    return max((run.code for run in runs if run.code is not None), default=0)


def use_colour(choice: str = "auto") -> bool:
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and \
        os.environ.get("TERM") != "dumb"


def paint(text: str, state: str, colour: bool) -> str:
    return f"\033[{_COLOURS[state]}m{text}\033[0m" if colour and state in _COLOURS else text


def table(runs: list[PluginRun], colour: bool) -> list[str]:
    """One line per plugin: state and name aligned, then the summary."""
    width = max((len(run.label) for run in runs), default=0)
    return [f"{paint(f'{run.state:<9}', run.state, colour)} {run.label:<{width}}  {run.summary}"
            for run in runs]


def shell_line(command: list[str]) -> str:
    import shlex

    return "$ " + shlex.join(command)
