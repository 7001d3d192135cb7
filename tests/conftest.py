"""Fixtures shared by the tests: the scripted nameserver, the installed
plugins run as a user runs them, and the rule that integration tests may
not skip under CI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from check_mail.simulation.dnsserver import ScriptedNameserver

# .ci/run sets this: there, a missing server is a failure, not a skip.
REQUIRE_INTEGRATION = os.environ.get("CHECK_MAIL_REQUIRE_INTEGRATION") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip an integration test whose server is missing; fail under CI."""
    if condition:
        return
    if REQUIRE_INTEGRATION:
        pytest.fail(f"integration test cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fresh_nagiosplugin_runtime():
    """nagiosplugin keeps a process-wide Runtime; in-process runs must not share it."""
    import nagiosplugin.runtime

    nagiosplugin.runtime.Runtime.instance = None
    yield
    nagiosplugin.runtime.Runtime.instance = None


@pytest.fixture
def nameserver():
    with ScriptedNameserver() as server:
        yield server


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
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def first(self) -> str:
        """The status line, with the run time (the one varying figure) as X."""
        return re.sub(r"time=[0-9.]+s", "time=Xs", self.lines[0]) if self.lines else ""


def run_plugin(name: str, *args: str, stdin: str | None = None, timeout: float = 30) -> Run:
    proc = subprocess.run([executable(name), *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def smtp_server():
    """A scripted SMTP server; ``smtp_server(Behaviour(...))`` starts one.

    Any DATA or BDAT a probe sends fails the test."""
    from check_mail.simulation.smtpserver import ScriptedSmtpServer

    servers = []

    def start(behaviour=None, host="127.0.0.1", port=0):
        server = ScriptedSmtpServer(behaviour, host, port).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    assert not any(server.data_seen for server in servers), "a probe sent DATA"
