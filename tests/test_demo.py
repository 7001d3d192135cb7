"""The main job's demo: every plugin against the simulated mail domain."""

from __future__ import annotations

from tests.helpers.plugins import run_plugin


def test_demo_runs_every_plugin_as_expected():
    run = run_plugin("check-mail", timeout=120)
    assert run.returncode == 0, run.stdout
    assert run.lines[-1] == "demo finished: every plugin answered as expected."
    commands = [line.split()[1] for line in run.lines if line.startswith("$ ")]
    assert {"check_rbl", "check_ptr", "check_postmaster", "check_spf", "check_dkim",
            "check_relay", "check_dmarc", "check_tls", "check_senders",
            "check_refusals"} <= set(commands)
    assert "DKIM OK - 2 signatures verified" in run.lines
    assert "RBL CRITICAL - 192.0.2.99 listed on 2 of 18 zones (bl.spamcop.net, " \
           "psbl.surriel.com)" in run.lines
    assert "PTR OK - 1 address, forward-confirmed, SMTP names match (smtp.example.net)" \
           in run.lines
    assert any(line.startswith("TLS OK - 1 MX, 1 address: STARTTLS, TLS 1.3, certificate valid "
                               "(expires in 89 days), DANE matches, MTA-STS enforce |")
               for line in run.lines)
    assert "SENDERS CRITICAL - alice@example.net sent 1240 mails in 24h (limit 1000); 2 " \
           "senders over 300" in run.lines
    assert "REFUSALS CRITICAL - outlook.com blocks 192.0.2.25: 550 5.7.606 Access denied, " \
           "banned sending IP [192.0.2.25] (12 in 1h); gmail.com rate-limits (6), yahoo.com " \
           "rate-limits (4)" in run.lines
    assert any(line.startswith("POSTMASTER OK - postmaster, hostmaster, abuse accepted by 1 MX "
                               "(1 address) |") for line in run.lines)


def test_bad_arguments_exit_3():
    run = run_plugin("check-mail", "--bogus")
    assert run.returncode == 3
    assert "unrecognized arguments: --bogus" in run.stdout
