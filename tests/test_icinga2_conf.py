"""icinga2-conf/ is validated by the real icinga2 binary with the ITL loaded,
and nagios/ by the real nagios4, as a user's configuration would be."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.helpers.icinga2 import ICINGA, ITL, NAGIOS, binary, icinga2_check
from tests.helpers.plugins import need

HOSTS = """\
object Host "mail.example.org" {
  check_command = "dummy"
  address = "192.0.2.25"
  address6 = "2001:db8::25"
  vars.mail_server = true
  vars.mail_domain = "example.org"
}

object Host "monitor.example.org" {
  check_command = "dummy"
  vars.mail_nameservers = [ "127.0.0.1", "[::1]:5353" ]
  vars.mail_domains["example.org"] = {
    dkim_selectors = [ "s2025", "ed2025" ]
    spf_ips = [ "192.0.2.25", "2001:db8::25" ]
  }
  vars.mail_domains["example.net"] = { }
}
"""


def test_commands_and_apply_rules_validate_with_the_real_icinga2(tmp_path):
    config = tmp_path / "icinga2.conf"
    config.write_text(ITL + 'const CheckMailPluginDir = "/opt/check-mail/bin"\n'
                      f'include "{ICINGA}/check-mail-commands.conf"\n'
                      f'include "{ICINGA}/check-mail-services.conf"\n' + HOSTS)
    output = icinga2_check(config, tmp_path)
    # mail.example.org: rbl, ptr, postmaster; monitor: spf x2, dkim x1, postmaster x2
    assert "Instantiated 8 Services" in output
    complaints = [line for line in output.splitlines()
                  if "warning/" in line or "critical/" in line]
    assert [line for line in complaints if "mail" in line or str(ICINGA) in line] == []


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
    assert "Instantiated 8 Services" in output


def test_nagios_definitions_validate_with_the_real_nagios4():
    nagios = binary("nagios4")
    need(nagios is not None, "nagios4 is not installed (apt-get install nagios4-core)")
    # nagios4 reads its configuration as the nagios user: no private pytest folder.
    tmp_path = Path(tempfile.mkdtemp(prefix="check-mail-nagios-"))
    tmp_path.chmod(0o755)
    try:
        validate_nagios(nagios, tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def validate_nagios(nagios: str, tmp_path: Path) -> None:
    objects = Path("/etc/nagios4/objects")
    (tmp_path / "resource.cfg").write_text("$USER10$=/opt/check-mail/bin\n")
    files = [objects / f for f in ("commands.cfg", "contacts.cfg", "timeperiods.cfg",
                                   "templates.cfg")]
    files += sorted(NAGIOS.glob("*.cfg"))
    (tmp_path / "nagios.cfg").write_text(
        f"log_file={tmp_path}/nagios.log\n" + "".join(f"cfg_file={f}\n" for f in files) +
        f"resource_file={tmp_path}/resource.cfg\nillegal_macro_output_chars=`~$&|'\"<>\n")
    proc = subprocess.run([nagios, "-v", str(tmp_path / "nagios.cfg")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert "Total Warnings: 0" in proc.stdout and "Total Errors:   0" in proc.stdout


PLUGINS = {"mail_rbl": "check_rbl", "mail_ptr": "check_ptr", "mail_postmaster": "check_postmaster",
           "mail_spf": "check_spf", "mail_dkim": "check_dkim"}


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
