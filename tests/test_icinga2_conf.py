"""icinga2-conf/ is validated by the real icinga2 binary with the ITL loaded,
and nagios/ by the real nagios4, as a user's configuration would be."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.helpers.monitoring import ICINGA, ITL, NAGIOS, icinga2_check, nagios_check

HOSTS = """\
object Host "mail.example.org" {
  check_command = "dummy"
  address = "192.0.2.25"
  address6 = "2001:db8::25"
  vars.mail_server = true
  vars.mail_smarthost = true
  vars.mail_domain = "example.org"
  vars.mail_log = [ "/var/log/mail.log" ]
}

object Host "monitor.example.org" {
  check_command = "dummy"
  vars.mail_nameservers = [ "127.0.0.1", "[::1]:5353" ]
  vars.mail_domains["example.org"] = {
    dkim_selectors = [ "s2025", "ed2025" ]
    spf_ips = [ "192.0.2.25", "2001:db8::25" ]
  }
  vars.mail_domains["example.net"] = { }
  vars.mail_networks = [ "203.0.113.0/24", "2001:db8:1::/120" ]
}
"""


def test_commands_and_apply_rules_validate_with_the_real_icinga2(tmp_path):
    config = tmp_path / "icinga2.conf"
    config.write_text(ITL + 'const CheckMailPluginDir = "/opt/check-mail/bin"\n'
                      f'include "{ICINGA}/check-mail-commands.conf"\n'
                      f'include "{ICINGA}/check-mail-services.conf"\n' + HOSTS)
    output = icinga2_check(config, tmp_path)
    # mail.example.org: rbl, ptr, postmaster, relay, tls, senders, refusals;
    # monitor: spf x2, dmarc x2, dkim x1, postmaster x2, tls x2, rbl x2 (networks)
    assert "Instantiated 18 Services" in output
    complaints = [line for line in output.splitlines()
                  if "warning/" in line or "critical/" in line]
    assert [line for line in complaints if "mail" in line or str(ICINGA) in line] == []


@pytest.mark.parametrize(("value", "services"), [
    ('{ "example.org" = { spf_ips = [ "192.0.2.25" ] }, "example.net" = {} }', 8),
    ('[ "example.org", "example.net" ]', 8),
    ('"example.org"', 4),
    ('[ "example.org", 42 ]', 4),
    ('{ "example.org" = "oops" }', 4),
    ("42", 0),
    ("null", 0),
])
def test_mail_domains_as_dictionary_array_or_string(tmp_path, value, services):
    """One host variable of the wrong type must not stop the whole daemon."""
    config = tmp_path / "icinga2.conf"
    config.write_text(ITL + 'const CheckMailPluginDir = "/opt/check-mail/bin"\n'
                      f'include "{ICINGA}/check-mail-commands.conf"\n'
                      f'include "{ICINGA}/check-mail-services.conf"\n'
                      'object Host "monitor.example.org" {\n  check_command = "dummy"\n'
                      f"  vars.mail_domains = {value}\n}}\n")
    output = icinga2_check(config, tmp_path)
    # spf, dmarc, postmaster and tls per domain (no DKIM selectors given)
    assert f"Instantiated {services} Service" in output or (
        services == 0 and "Service" not in output.split("Instantiated", 1)[-1]), output
    if value in ('[ "example.org", 42 ]', '{ "example.org" = "oops" }', "42"):
        assert "warning/check-mail" in output


def test_the_commands_work_from_a_global_zone(tmp_path):
    """Distributed setups sync the definitions through a global zone."""
    zones = tmp_path / "zones.d" / "global-templates"
    zones.mkdir(parents=True)
    for name in ("check-mail-commands.conf", "check-mail-services.conf"):
        shutil.copy(ICINGA / name, zones / name)
    (tmp_path / "zones.d" / "master").mkdir()
    (tmp_path / "zones.d" / "master" / "hosts.conf").write_text(HOSTS)
    config = tmp_path / "icinga2.conf"
    config.write_text(ITL + 'const CheckMailPluginDir = "/opt/check-mail/bin"\n'
                      'const NodeName = "master.example.org"\n'
                      'object Endpoint NodeName { }\n'
                      'object Zone "master" { endpoints = [ NodeName ] }\n'
                      'object Zone "global-templates" { global = true }\n'
                      f'include_zones "check-mail", "{tmp_path}/zones.d"\n')
    output = icinga2_check(config, tmp_path)
    assert "Instantiated 18 Services" in output


def test_nagios_definitions_validate_with_the_real_nagios4():
    nagios_check(sorted(NAGIOS.glob("*.cfg")), "$USER10$=/opt/check-mail/bin\n")


PLUGINS = {"mail_rbl": "check_rbl", "mail_ptr": "check_ptr", "mail_postmaster": "check_postmaster",
           "mail_spf": "check_spf", "mail_dkim": "check_dkim", "mail_relay": "check_relay",
           "mail_dmarc": "check_dmarc", "mail_tls": "check_tls",
           "mail_senders": "check_senders", "mail_refusals": "check_refusals"}


def command_arguments() -> dict[str, set[str]]:
    """The argument keys of each CheckCommand in check-mail-commands.conf."""
    import re

    text = (ICINGA / "check-mail-commands.conf").read_text()
    blocks = re.split(r'^object CheckCommand "', text, flags=re.M)[1:]
    return {block.split('"', 1)[0]: set(re.findall(r'^\s+"(-[^"]+)" = ', block, flags=re.M))
            for block in blocks}


def plugin_options(name: str) -> list[tuple[str, ...]]:
    """Each option of a plugin, as its option strings (help and version left out)."""
    import importlib

    check = importlib.import_module(f"check_mail.checks.{name.removeprefix('check_')}")
    return [tuple(action.option_strings) for action in check.parser()._actions
            if action.option_strings and action.dest not in ("help", "version")]


def test_every_option_of_every_plugin_is_reachable_from_its_checkcommand():
    arguments = command_arguments()
    assert set(arguments) == set(PLUGINS)
    for command, plugin in PLUGINS.items():
        missing = [options for options in plugin_options(plugin)
                   if not set(options) & arguments[command]]
        assert missing == [], (command, missing)


def nagios_objects(path, kind: str) -> list[dict[str, str]]:
    """The ``define KIND { ... }`` blocks of a Nagios object file, as dicts."""
    import re

    found = []
    for body in re.findall(rf"^define {kind} \{{\n(.*?)^\}}", path.read_text(), re.M | re.S):
        found.append({key: value.strip() for key, _, value in
                      (line.strip().partition(" ") for line in body.splitlines())
                      if key and not key.startswith("#")})
    return found


def test_every_nagios_service_runs_its_command_line_as_nagios_expands_it(tmp_path):
    """Issue 22: each example service's command line, with the documented
    macros ($USER10$ the plugins' folder, the host's $HOSTADDRESS$ and
    $HOSTNAME$, the $ARGn$ of the service), run once as Nagios runs it. No
    run may end in an argument error. Run in a network namespace of its own
    with only loopback: the example host is not ours to probe."""
    import os
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    from tests.helpers.plugins import need

    need(os.getuid() == 0 and shutil.which("unshare") is not None,
         "a private network namespace takes root and unshare")
    commands = {c["command_name"]: c["command_line"]
                for c in nagios_objects(NAGIOS / "check-mail-commands.cfg", "command")}
    host = nagios_objects(NAGIOS / "check-mail-services.cfg", "host")[0]
    macros = {"$USER10$": str(Path(sys.executable).parent), "$HOSTADDRESS$": host["address"],
              "$HOSTNAME$": host["host_name"]}
    services = nagios_objects(NAGIOS / "check-mail-services.cfg", "service")
    assert {s["check_command"].split("!")[0] for s in services} == set(commands)
    for service in services:
        name, *args = service["check_command"].split("!")
        line = commands[name]
        for number, value in enumerate(args, 1):
            line = line.replace(f"$ARG{number}$", value)
        line = re.sub(r"\$ARG\d+\$", "", line)  # an $ARGn$ the service leaves out is empty
        for macro, value in macros.items():
            line = line.replace(macro, value)
        assert "$" not in line, line
        run = subprocess.run(["unshare", "-n", *shlex.split(line), "-t", "5"],
                             capture_output=True, text=True, timeout=60)
        first = run.stdout.split("\n", 1)[0]
        assert run.returncode in (0, 1, 2, 3) and run.stderr == "", (line, run)
        assert re.match(r"[A-Z]+ (OK|WARNING|CRITICAL|UNKNOWN) - ", first), (line, first)
        for error in ("UNKNOWN - argument ", "unrecognized arguments",
                      "the following arguments are required"):
            assert error not in first, (line, first)
