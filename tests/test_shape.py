"""The shape every check shares: thin executables, the check modules behind them,
one rule per option type, lean imports for --help and --version."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from check_mail.checks import postmaster, ptr, spf
from check_mail.simulation.dnsserver import Fault
from tests.helpers.plugins import ROOT, executable, run_check, run_plugin

CHECKS = ("rbl", "ptr", "postmaster", "spf", "dkim", "relay", "dmarc", "tls", "senders",
          "refusals")


@pytest.mark.parametrize("name", CHECKS)
def test_the_executable_is_a_stub_calling_the_check(name):
    code = [line for line in (ROOT / "plugins" / f"check_{name}").read_text().splitlines()
            if line.strip() and not line.startswith(("#", '"""'))]
    assert code == ["from check_mail.checks import run", f'run("{name}")']


@pytest.mark.parametrize("name", CHECKS)
def test_help_and_version_import_nothing_heavy(name):
    """dnspython, asyncio and cryptography cost tens of milliseconds each, and
    dataclasses (with inspect) a few; --help and --version must not pay for them."""
    probe = (f"import sys; from check_mail.checks import {name} as m; m.parser().format_help(); "
             "print(sorted({n.split('.')[0] for n in sys.modules} & "
             "{'asyncio', 'dns', 'cryptography', 'ssl', 'dataclasses', 'ipaddress'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", CHECKS)
def test_the_installed_executable_answers(name):
    run = run_plugin(f"check_{name}", "--version")
    assert (run.returncode, run.stdout, run.stderr) == (
        3, f"check_{name} (check-mail) {importlib.import_module('check_mail').__version__}\n",
        "")
    assert executable(f"check_{name}")


@pytest.mark.parametrize("value", ["mail.example.org", "[192.0.2.1]", "[IPv6:2001:db8::1]"])
@pytest.mark.parametrize("check", [ptr, postmaster, spf], ids=["ptr", "postmaster", "spf"])
def test_one_helo_rule_accepts(check, value):
    args = ["-H", "192.0.2.1"] if check is ptr else ["-D", "example.org"]
    assert check.parser().parse_args([*args, "--helo", value]).helo == value


@pytest.mark.parametrize("value", ["1.2.3.4", "[1.2.3.4", "[IPv6:1.2.3.4]", "[2001:db8::1]",
                                   "bad name", "", "[x]\r\nDATA", "mail.example.org\r\nDATA"])
@pytest.mark.parametrize("check", [ptr, postmaster, spf], ids=["ptr", "postmaster", "spf"])
def test_one_helo_rule_refuses(check, value):
    args = ["-H", "192.0.2.1"] if check is ptr else ["-D", "example.org"]
    run = run_check(check, *args, "--helo", value)
    assert run.returncode == 3
    assert run.lines[0].endswith("is neither a hostname nor an address literal such as "
                                 "[192.0.2.1] or [IPv6:2001:db8::1]")


def test_spf_mx_must_pass_with_a_failed_mx_lookup_is_unknown(nameserver):
    """A dead resolver never reads OK: the MX lookup failing is UNKNOWN, as in
    check_postmaster, not a pass for want of addresses."""
    nameserver.add("example.org", "TXT", '"v=spf1 ip4:192.0.2.1 -all"')
    nameserver.fault("example.org", Fault.SERVFAIL, "MX")
    run = run_check(spf, "-n", nameserver.address, "-D", "example.org", "--mx-must-pass")
    assert run.returncode == 3
    assert run.first.startswith("SPF UNKNOWN - example.org: lookup failed: MX example.org "
                                "SERVFAIL")


def test_spf_mx_must_pass_with_a_null_mx_holds(nameserver):
    nameserver.add("example.org", "TXT", '"v=spf1 ip4:192.0.2.1 -all"')
    nameserver.add("example.org", "MX", "0 .")
    run = run_check(spf, "-n", nameserver.address, "-D", "example.org", "--mx-must-pass")
    assert run.returncode == 0
    assert run.first.startswith("SPF OK - example.org: 0 DNS lookups (max 10), -all |")
