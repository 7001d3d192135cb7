"""icinga2-conf/ is validated by the real icinga2 binary, with the ITL loaded."""

from __future__ import annotations

import getpass
import grp
import os
import shutil
import subprocess
from pathlib import Path

from conftest import need

CONF = Path(__file__).resolve().parent.parent / "icinga2-conf"

EXAMPLE = """
include <itl>
include <plugins>
const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "/usr/lib/nagios/plugins"
const ManubulonPluginDir = "/usr/lib/nagios/plugins"
const CheckMailPluginDir = "/opt/check-mail/bin"
include "{conf}/*.conf"

object Host "mail.example.org" {{
  check_command = "dummy"
  address = "192.0.2.25"
  address6 = "2001:db8::25"
  vars.mail_server = true
  vars.mail_domains = [ "example.org", "example.net" ]
}}

apply Service "rbl" {{
  check_command = "mail_rbl"
  vars.mail_rbl_domain = "example.org"
  vars.mail_rbl_server = [ "zen.spamhaus.org", "bl.spamcop.net" ]
  vars.mail_rbl_key = [ "spamhaus-dqs=SECRET" ]
  vars.mail_rbl_nameserver = [ "127.0.0.1", "[::1]:5353" ]
  vars.mail_rbl_selftest = true
  vars.mail_rbl_ipv4 = true
  assign where host.vars.mail_server
}}

apply Service "ptr" {{
  check_command = "mail_ptr"
  vars.mail_ptr_expect = "mail.example.org"
  vars.mail_ptr_port = 587
  vars.mail_ptr_smtp_mismatch = "critical"
  vars.mail_ptr_allow_generic = false
  assign where host.vars.mail_server
}}

apply Service "postmaster-" for (domain in host.vars.mail_domains) {{
  check_command = "mail_postmaster"
  vars.mail_postmaster_domain = domain
  vars.mail_postmaster_mailbox = [ "postmaster", "abuse" ]
  vars.mail_postmaster_critical_mailbox = [ "abuse" ]
  vars.mail_postmaster_bare_postmaster = true
  vars.mail_postmaster_greylist_wait = 5
  assign where host.vars.mail_domains
}}

apply Service "spf-" for (domain in host.vars.mail_domains) {{
  check_command = "mail_spf"
  vars.mail_spf_domain = domain
  vars.mail_spf_ip = [ "$host.address$", "$host.address6$" ]
  vars.mail_spf_mx_must_pass = true
  vars.mail_spf_strict = true
  vars.mail_spf_max_ttl = 3600
  assign where host.vars.mail_domains
}}

apply Service "dkim" {{
  check_command = "mail_dkim"
  vars.mail_dkim_domain = "example.org"
  vars.mail_dkim_selector = [ "s2025", "ed2025" ]
  vars.mail_dkim_private_key = [ "/etc/dkim/s2025.pem", "/etc/dkim/ed2025.pem" ]
  vars.mail_dkim_warning = "3072:"
  assign where host.vars.mail_server
}}
"""


def test_commands_validate_with_the_real_icinga2(tmp_path):
    binary = shutil.which("icinga2") or ("/usr/sbin/icinga2"
                                         if Path("/usr/sbin/icinga2").exists() else None)
    need(binary is not None, "icinga2 is not installed (apt-get install icinga2-bin)")
    config = tmp_path / "icinga2.conf"
    config.write_text(EXAMPLE.format(conf=CONF))
    user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
    dirs = [f"-D{name}={tmp_path}" for name in ("CacheDir", "DataDir", "LogDir",
                                                 "SpoolDir", "StateDir", "InitRunDir")]
    proc = subprocess.run(
        [binary, "daemon", "-C", "-c", str(config), f"-DRunAsUser={user}",
         f"-DRunAsGroup={group}", *dirs],
        capture_output=True, text=True, timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Instantiated 7 Services" in output
    complaints = [line for line in output.splitlines()
                  if "warning/" in line or "critical/" in line]
    assert [line for line in complaints if "mail_" in line or str(CONF) in line] == []
