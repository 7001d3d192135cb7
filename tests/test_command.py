"""check-mail, the suite's own command: every plugin against a server and a
domain, and the definitions it prints for Icinga 2 and Nagios."""

from __future__ import annotations

import argparse

import pytest

from check_mail import command
from check_mail.simulation import maildomain as sim
from tests.helpers.monitoring import ITL, icinga2_check, nagios_check
from tests.helpers.plugins import run_plugin


@pytest.fixture(scope="module")
def domain():
    with sim.SimulatedDomain() as served:
        yield served


def test_the_real_server_form(domain, tmp_path):
    """check-mail -H HOST -D DOMAIN -s SELECTOR --log FILE: every plugin
    answers, one line each."""
    quiet = tmp_path / "mail.log"
    quiet.write_text("")
    # No Postfix on this PATH (a machine without one): the queue is skipped, and
    # says so. Where postqueue fails instead, the queue is UNKNOWN, never empty.
    run = run_plugin("check-mail", "-H", sim.SMTP_HOST, "-D", sim.DOMAIN, "-s", "rsa2026",
                     "-n", domain.nameserver, "-p", str(domain.smtp_port), "--ca-file",
                     str(domain.files / "ca.pem"), "--mta-sts-port", str(domain.https_port),
                     "--log", str(quiet), timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout
    assert run.lines[0].startswith("check-mail: smtp.example.net and example.net (10 plugins, ")
    assert [line.split()[:2] for line in run.lines[1:11]] == [
        ["OK", "RBL"], ["OK", "PTR"], ["OK", "RELAY"], ["OK", "POSTMASTER"], ["OK", "SPF"],
        ["OK", "DMARC"], ["OK", "TLS"], ["OK", "DKIM"], ["OK", "SENDERS"], ["OK", "REFUSALS"]]
    assert run.lines[4] == ("OK        POSTMASTER  postmaster, hostmaster, abuse accepted by "
                            "1 MX (1 address)")
    assert run.lines[10] == ("OK        REFUSALS    0 refusals in 1h (0 deliveries); queue not "
                             "checked (postqueue not found)")
    assert run.lines[-1] == "overall: OK"
    assert "\033[" not in run.stdout  # no colour when piped


def test_the_worst_state_is_the_exit_code_and_skips_say_why(domain):
    # relay.example.net is on loopback: the SMTP probes never leave the machine.
    run = run_plugin("check-mail", "-H", sim.RELAY_HOST, "-D", sim.BROKEN, "-n",
                     domain.nameserver, "-p", str(domain.smtp_port), "--color", "never",
                     timeout=60)
    assert run.returncode == 2
    assert run.lines[3].startswith("CRITICAL  RELAY       127.0.0.3 open relay: ")
    assert ("SKIPPED   DKIM        no selector: give -s SELECTOR to check DKIM keys"
            in run.lines)
    assert run.lines[-1] == "overall: CRITICAL"


def args(*argv: str) -> argparse.Namespace:
    return command.parser().parse_args(list(argv))


def test_each_plugin_gets_only_the_options_it_takes():
    planned = {run.command[0]: run.command for run in command.plan(
        args("-H", "mail.example.org", "-D", "example.org", "-s", "s1", "-n", "127.0.0.1",
             "-p", "2525", "--helo", "monitor.example.org", "-4"), ["192.0.2.25"])}
    assert planned["check_rbl"] == ["check_rbl", "-H", "mail.example.org", "-D", "example.org",
                                    "-n", "127.0.0.1", "-t", "20", "-4"]
    assert planned["check_ptr"] == ["check_ptr", "-H", "mail.example.org", "--smtp", "-n",
                                    "127.0.0.1", "-t", "20", "-p", "2525", "--helo",
                                    "monitor.example.org", "-4"]
    assert planned["check_spf"] == ["check_spf", "-D", "example.org", "--ip", "192.0.2.25",
                                    "-n", "127.0.0.1", "-t", "20", "--helo",
                                    "monitor.example.org"]
    assert planned["check_dkim"][:5] == ["check_dkim", "-D", "example.org", "-s", "s1"]
    assert planned["check_tls"] == ["check_tls", "-D", "example.org", "-n", "127.0.0.1", "-t",
                                    "20", "-p", "2525", "--helo", "monitor.example.org", "-4"]
    alone = command.plan(args("-H", "mail.example.org", "--ca-file", "ca.pem"), [])
    assert [r.command for r in alone if r.command[0] == "check_tls"] == [
        ["check_tls", "-H", "mail.example.org", "-t", "20", "--ca-file", "ca.pem"]]


def test_the_log_plugins_run_where_the_log_is(monkeypatch, tmp_path):
    """On the mail server (its log readable) check_senders and check_refusals
    join, reading the whole window without touching the monitoring's state;
    elsewhere they are skipped with the reason."""
    monkeypatch.setattr(command, "MAIL_LOG", str(tmp_path / "absent.log"))
    planned = command.plan(args("-D", "example.org"), [])
    assert [(r.command, r.skipped) for r in planned if r.skipped][-2:] == [
        (["check_senders"], f"no mail log: {tmp_path}/absent.log is not readable here; give "
                            f"--log FILE"),
        (["check_refusals"], f"no mail log: {tmp_path}/absent.log is not readable here; give "
                             f"--log FILE")]
    (tmp_path / "absent.log").write_text("")
    planned = {r.command[0]: r.command for r in command.plan(args("-D", "example.org", "-t",
                                                                  "9"), [])}
    assert planned["check_senders"] == ["check_senders", "--log", f"{tmp_path}/absent.log",
                                   "--no-state", "-t", "9"]
    alone = command.plan(args("--log", "/srv/mail.log", "--log", "/srv/mail2.log"), [])
    assert [r.command for r in alone] == [
        ["check_senders", "--log", "/srv/mail.log", "--log", "/srv/mail2.log", "--no-state",
         "-t", "20"],
        ["check_refusals", "--log", "/srv/mail.log", "--log", "/srv/mail2.log", "--no-state",
         "-t", "20"]]


def test_a_host_name_is_resolved_for_check_spf(domain):
    assert command.sending_ips(args("-H", sim.CLEAN_HOST, "-D", sim.DOMAIN, "-n",
                                    domain.nameserver)) == ["192.0.2.25", "2001:db8::25"]
    assert command.sending_ips(args("-H", sim.CLEAN_HOST, "-D", sim.DOMAIN, "-n",
                                    domain.nameserver, "-6")) == ["2001:db8::25"]
    assert command.sending_ips(args("-H", "192.0.2.1", "-D", sim.DOMAIN)) == ["192.0.2.1"]


@pytest.mark.parametrize("flag", ["--version", "-V", "--help", "-h", "--bogus"])
def test_help_version_and_bad_arguments_exit_3(flag):
    run = run_plugin("check-mail", flag)
    assert run.returncode == 3
    assert run.stderr == ""


def test_the_printed_icinga2_configuration_validates(tmp_path):
    run = run_plugin("check-mail", "config", "icinga2", "--plugin-dir", "/opt/check-mail/bin")
    assert run.returncode == 0
    assert 'globals.CheckMailPluginDir = "/opt/check-mail/bin"' in run.stdout
    config = tmp_path / "icinga2.conf"
    (tmp_path / "check-mail.conf").write_text(run.stdout)
    config.write_text(ITL + f'include "{tmp_path}/check-mail.conf"\n'
                      'object Host "mail.example.org" {\n  check_command = "dummy"\n'
                      '  address = "192.0.2.25"\n  vars.mail_server = true\n'
                      '  vars.mail_domains = [ "example.org" ]\n}\n')
    # rbl and ptr for the server, spf, dmarc, postmaster and tls for the domain
    assert "Instantiated 6 Services" in icinga2_check(config, tmp_path)


def test_the_printed_nagios_configuration_validates(tmp_path):
    run = run_plugin("check-mail", "config", "nagios", "--plugin-dir", "/opt/check-mail/bin")
    assert run.returncode == 0
    commands = run.stdout.split("# define", 1)[0]
    assert "$USER10$" not in commands
    assert "/opt/check-mail/bin=" not in run.stdout  # issue 22: a comment replaced blindly
    assert "    command_line    /opt/check-mail/bin/check_rbl -H $HOSTADDRESS$" in commands
    printed = tmp_path / "check-mail.cfg"
    printed.write_text(run.stdout)
    host = tmp_path / "host.cfg"
    host.write_text("define host {\n  use generic-host\n  host_name mail.example.org\n"
                    "  address 192.0.2.25\n  max_check_attempts 3\n  contact_groups admins\n}\n"
                    "define service {\n  use generic-service\n  host_name mail.example.org\n"
                    "  service_description RBL\n  check_command check_mail_rbl\n}\n")
    nagios_check([printed, host])


@pytest.mark.parametrize("argv", [
    ["-t", "nan", "-D", "example.org"], ["-t", "1e10", "-D", "example.org"],
    ["-t", "inf", "-D", "example.org"], ["-p", "99999", "-D", "example.org"],
    ["-H", "a b"], ["-D", "example.org", "-n", "fe80::1%eth0"],
    ["-D", "example.org", "--helo", "[x]\r\nDATA"], ["demo", "--dns-port", "0"],
])
def test_bad_options_are_refused_as_the_plugins_refuse_them(argv):
    """Issue 21: check-mail checks its options with the plugins' own types:
    one usage error, exit 3, no traceback."""
    run = run_plugin("check-mail", *argv)
    assert (run.returncode, run.stderr) == (3, ""), run.stdout
    assert ": error: argument " in run.lines[-1], run.stdout
    assert "Traceback" not in run.stdout
