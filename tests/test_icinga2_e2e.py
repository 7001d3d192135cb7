"""End to end: a real Icinga 2 daemon runs the installed plugins through our
CheckCommands against the simulated mail domain, and we read what Icinga
recorded.

Results are read from Icinga's state file (icinga2.state, written when the
daemon stops), which needs no API listener and no TLS certificates. A
PerfdataWriter's file only tells us when every service has been checked.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from check_mail.simulation import maildomain as sim
from tests.helpers import icinga
from tests.helpers.monitoring import ICINGA, ITL

SERVICES = """\
object Host "smtp.example.net" {{
  check_command = "dummy"
  address = "127.0.0.1"
  check_interval = 1h
}}

template Service "e2e" {{
  host_name = "smtp.example.net"
  check_interval = 2s
  retry_interval = 2s
  max_check_attempts = 1
}}

object Service "rbl" {{
  import "e2e"
  check_command = "mail_rbl"
  vars.mail_rbl_host = "mail.example.net"
  vars.mail_rbl_nameserver = [ "{ns}" ]
}}

object Service "ptr" {{
  import "e2e"
  check_command = "mail_ptr"
  vars.mail_ptr_port = {port}
  vars.mail_ptr_nameserver = [ "{ns}" ]
}}

object Service "postmaster" {{
  import "e2e"
  check_command = "mail_postmaster"
  vars.mail_postmaster_domain = "example.net"
  vars.mail_postmaster_port = {port}
  vars.mail_postmaster_nameserver = [ "{ns}" ]
}}

object Service "spf" {{
  import "e2e"
  check_command = "mail_spf"
  vars.mail_spf_domain = "example.net"
  vars.mail_spf_ip = [ "192.0.2.99", "{outsider}" ]
  vars.mail_spf_nameserver = [ "{ns}" ]
}}

object Service "dkim" {{
  import "e2e"
  check_command = "mail_dkim"
  vars.mail_dkim_domain = "example.net"
  vars.mail_dkim_selector = {selectors}
  vars.mail_dkim_nameserver = [ "{ns}" ]
}}

object Service "relay" {{
  import "e2e"
  check_command = "mail_relay"
  vars.mail_relay_host = "smtp.example.net"
  vars.mail_relay_port = {port}
  vars.mail_relay_nameserver = [ "{ns}" ]
  vars.mail_relay_auth_user = "monitor@example.net"
  vars.mail_relay_password = "{password}"  // through the environment, never in ps
}}

object Service "dmarc" {{
  import "e2e"
  check_command = "mail_dmarc"
  vars.mail_dmarc_domain = [ "example.net", "broken.example.net" ]
  vars.mail_dmarc_nameserver = [ "{ns}" ]
}}

object Service "tls" {{
  import "e2e"
  check_command = "mail_tls"
  vars.mail_tls_domain = "example.net"
  vars.mail_tls_port = {port}
  vars.mail_tls_ca_file = "{files}/ca.pem"
  vars.mail_tls_mta_sts_port = {https_port}
  vars.mail_tls_nameserver = [ "{ns}" ]
}}

object Service "senders" {{
  import "e2e"
  check_command = "mail_senders"
  vars.mail_senders_log = [ "{files}/mail.log" ]
  vars.mail_senders_state_file = "{tmp}/senders.json"
}}

object Service "refusals" {{
  import "e2e"
  check_command = "mail_refusals"
  vars.mail_refusals_log = [ "{files}/mail.log" ]
  vars.mail_refusals_state_file = "{tmp}/refusals.json"
  vars.mail_refusals_postqueue = "{files}/postqueue"
}}

object Service "empty-domain" {{
  import "e2e"
  check_command = "mail_postmaster"
  vars.mail_postmaster_domain = ""
}}

"""

EXPECTED = {  # service -> (state, first line starts with, perfdata labels)
    "rbl": (0, "RBL OK - mail.example.net (192.0.2.25, 2001:db8::25) not listed on 19 zones",
            ["errors", "listed", "time", "zones"]),
    "ptr": (0, "PTR OK - 1 address, forward-confirmed, SMTP names match (smtp.example.net)",
            ["addresses", "passed", "time"]),
    "postmaster": (0, "POSTMASTER OK - postmaster, hostmaster, abuse accepted by 1 MX "
                      "(1 address)", ["accepted", "addresses", "rejected", "time"]),
    "spf": (2, "SPF CRITICAL - example.net: 203.0.113.5 fail (-all); 3 DNS lookups (max 10), "
               "-all; 192.0.2.99 pass", ["lookups", "time", "ttl", "voids"]),
    "dkim": (0, "DKIM OK - 2 selectors: rsa2026 (rsa 2048), ed2026 (ed25519)",
             ["ed2026_bits", "ed2026_ttl", "rsa2026_bits", "rsa2026_ttl", "time"]),
    "relay": (0, "RELAY OK - smtp.example.net refused all 10 relay attempts from 127.0.0.1; "
                 "relays for monitor@example.net after AUTH (TLSv1.3)",
              ["accepted", "attempts", "time"]),
    "dmarc": (1, "DMARC WARNING - broken.example.net: p=none, reports to "
                 "reports@dmarc.example.com (+1 more)",
              ["broken.example.net_pct", "example.net_pct", "time"]),
    "tls": (0, "TLS OK - 1 MX, 1 address: STARTTLS, TLS 1.3, certificate valid (expires in 89 "
               "days), DANE matches, MTA-STS enforce",
            ["addresses", "days", "passing", "smtp.example.net_days", "time"]),
    "senders": (2, "SENDERS CRITICAL - alice@example.net sent 1240 mails in 24h (limit 1000); "
                   "2 senders over 300",
                ["distinct", "lines", "messages", "over_warning", "time", "top"]),
    "refusals": (2, "REFUSALS CRITICAL - outlook.com blocks 192.0.2.25: 550 5.7.606 Access "
                    "denied, banned sending IP [192.0.2.25] (12 in 1h)",
                 ["authentication", "blocked", "bounce_ratio", "content", "deferred",
                  "deliveries", "lines", "mailbox_full", "oldest", "other", "rate_limited",
                  "recipient_unknown", "time"]),
    # An empty variable is not passed at all (Icinga would pass "-D ''"): the
    # plugin says what is missing.
    "empty-domain": (3, "POSTMASTER UNKNOWN - the following arguments are required: "
                        "-D/--domain", []),
}


@pytest.fixture
def world():
    with sim.SimulatedDomain() as domain:
        yield domain


def test_icinga2_runs_every_plugin(world):
    tmp = Path(tempfile.mkdtemp(prefix="check-mail-icinga2-"))
    selectors = "[ " + ", ".join(f'"{s}"' for s in sim.DKIM_SELECTORS) + " ]"
    (tmp / "icinga2.conf").write_text(
        ITL + f'const CheckMailPluginDir = "{Path(sys.executable).parent}"\n'
        f'include "{ICINGA}/check-mail-commands.conf"\n'
        'object IcingaApplication "app" { }\nobject CheckerComponent "checker" { }\n'
        + icinga.progress(tmp)
        + SERVICES.format(ns=world.nameserver, port=world.smtp_port, outsider=sim.OUTSIDER,
                          selectors=selectors, tmp=tmp, password=world.password,
                          files=world.files, https_port=world.https_port))
    daemon = icinga.Daemon(tmp)
    try:
        daemon.start()
        for _ in range(600):  # until every service has a result, or 60 s
            checked = {name.split("!", 1)[1] for name in icinga.checked(tmp)}
            if checked >= set(EXPECTED) or not daemon.running():
                break
            time.sleep(0.1)
        results = {name.split("!", 1)[1]: result for name, result in daemon.stop().items()}
        assert checked >= set(EXPECTED), daemon.log[-3000:]
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for service, (state, line, labels) in EXPECTED.items():
        result = results[service]
        assert result is not None, service
        assert result["exit_status"] == state, (service, result["output"])
        assert result["output"].startswith(line), (service, result["output"])
        perfdata = result.get("performance_data") or []
        assert sorted(p.split("=", 1)[0] for p in perfdata) == labels, (service, perfdata)
