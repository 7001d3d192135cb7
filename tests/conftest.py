"""Fixtures shared by the tests: the scripted nameserver and SMTP servers.
Helpers to import live in tests/helpers."""

from __future__ import annotations

import pytest

from check_mail.simulation.dnsserver import ScriptedNameserver


@pytest.fixture
def nameserver():
    with ScriptedNameserver() as server:
        yield server


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
