"""Running plugins: as a user does (the installed executable, a subprocess) and
in process (a check module's parser and build, through the same scaffolding),
and the rule that integration tests may not skip under CI."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"  # third-party test data beside the project (../shared)

# .ci/run sets this: there, a missing server is a failure, not a skip.
REQUIRE_INTEGRATION = os.environ.get("CHECK_MAIL_REQUIRE_INTEGRATION") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip an integration test whose server is missing; fail under CI."""
    if condition:
        return
    if REQUIRE_INTEGRATION:
        pytest.fail(f"integration test cannot run: {reason}")
    pytest.skip(reason)


def executable(name: str) -> str:
    """An installed plugin: beside this interpreter first, then on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; run: pip install '.[test]'")
    return found


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str = ""

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def first(self) -> str:
        """The status line, with the run time (the one varying figure) as X."""
        return re.sub(r"time=[0-9.]+s", "time=Xs", self.lines[0]) if self.lines else ""


def run_plugin(name: str, *args: str, stdin: str | None = None, timeout: float = 30,
               env: dict[str, str] | None = None) -> Run:
    """The installed executable, as a monitoring system runs it (``env`` adds
    to or overrides the environment)."""
    proc = subprocess.run([executable(name), *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout,
                          env={**os.environ, **env} if env is not None else None)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_check(check: ModuleType, *args: str) -> Run:
    """A check module run in this process: the same parsing, judging and
    output as the executable, without the process."""
    from check_mail import plugin

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = plugin.run(check.parser(), check.build, list(args))
    return Run(code, out.getvalue())
