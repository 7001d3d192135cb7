"""The demo: every plugin against the simulated mail domain on loopback.

``check-mail`` (or ``check-mail demo``) starts the simulated domain, runs a
set of plugin commands against it, all at once, and shows each command with
its output, as a user would see them. ``check-mail demo --serve`` keeps the
domain serving on fixed ports instead, so that the README's examples can be
pasted and give the output shown there.
"""

from __future__ import annotations

import signal
import tempfile
import threading
from pathlib import Path

from check_mail import report
from check_mail.simulation import maildomain as sim

# --serve's defaults, which the README's examples use
DNS_PORT, SMTP_PORT, HTTPS_PORT = 10053, 10025, 10443
FILES = Path(tempfile.gettempdir()) / "check-mail-demo"


def commands(domain: sim.SimulatedDomain) -> list[tuple[list[str], int]]:
    """What the demo runs, and the exit code each must give."""
    assert domain.files is not None
    n, port, files = ["-n", domain.nameserver], str(domain.smtp_port), domain.files
    tls = ["-p", port, "--ca-file", str(files / "ca.pem"), "--mta-sts-port",
           str(domain.https_port)]
    selectors = [arg for s in sim.DKIM_SELECTORS for arg in ("-s", s)]
    return [
        (["check_rbl", *n, "-H", sim.CLEAN_HOST], 0),
        (["check_rbl", *n, "-H", sim.LISTED_HOST, "-v"], 2),
        (["check_rbl", *n, "-D", sim.DOMAIN, "--selftest"], 0),
        (["check_rbl", *n, "--hosts-file", str(files / "networks.txt"), "-v"], 2),
        (["check_ptr", *n, "-H", sim.CLEAN_HOST, "-v"], 0),
        (["check_ptr", *n, "-H", sim.LISTED_HOST], 1),
        (["check_ptr", *n, "-H", sim.SMTP_HOST, "--smtp", "-p", port, "-v"], 0),
        (["check_postmaster", *n, "-D", sim.DOMAIN, "-p", port], 0),
        (["check_postmaster", *n, "-D", sim.DOMAIN, "-p", port, "--mailbox", "postmaster",
          "--mailbox", "noc", "-v"], 1),
        (["check_spf", *n, "-D", sim.DOMAIN, "-v"], 0),
        (["check_spf", *n, "-D", sim.DOMAIN, "--ip", sim.LISTED_ADDRESS, "--ip", sim.OUTSIDER,
          "--mx-must-pass"], 2),
        (["check_dkim", *n, "-D", sim.DOMAIN, *selectors], 0),
        (["check_dkim", *n, "-D", sim.DOMAIN, "--message", str(files / "signed.eml"), "-v"], 0),
        (["check_dkim", *n, "-D", sim.DOMAIN, "--message", str(files / "altered.eml")], 2),
        (["check_relay", *n, "-H", sim.SMTP_HOST, "-p", port, "--auth-user", sim.RELAY_USER,
          "--auth-password-file", str(files / "relay.password")], 0),
        (["check_relay", *n, "-H", sim.RELAY_HOST, "-p", port], 2),
        (["check_dmarc", *n, "-D", sim.DOMAIN, "-D", sim.BROKEN], 1),
        (["check_dmarc", *n, "--message", str(files / "signed.eml"), "--ip", "192.0.2.25",
          "--sender", "joe@example.net"], 0),
        (["check_dmarc", *n, "--message", str(files / "newsletter.eml"), "--ip",
          sim.ESP_ADDRESS], 2),
        (["check_tls", *n, "-D", sim.DOMAIN, *tls], 0),
        (["check_tls", *n, "-D", sim.BROKEN, *tls, "-v"], 2),
        (["check_tls", *n, "-D", sim.CATCH_ALL, *tls], 2),
        (["check_senders", "--log", str(files / "mail.log"), "--no-state", "-v"], 2),
        (["check_senders", "--log", str(files / "mail.log"), "--no-state", "--window", "1h"],
         0),
        (["check_refusals", "--log", str(files / "mail.log"), "--no-state", "--postqueue",
          str(files / "postqueue"), "-v"], 2),
    ]


def demo() -> int:
    """Run the demo commands; exit 0 when every plugin answered as expected."""
    with sim.SimulatedDomain() as domain:
        assert domain.files is not None
        print(f"check-mail demo: a simulated mail domain, {sim.DOMAIN}, served by a scripted "
              f"nameserver on {domain.nameserver}.\n"
              f"{sim.CLEAN_HOST} is clean; {sim.LISTED_HOST} is listed on two blocklists and "
              f"has a generic PTR;\n{sim.SMTP_HOST}, the MX and smarthost, answers SMTP on "
              f"{sim.SMTP_ADDRESS} port {domain.smtp_port}; {sim.RELAY_HOST} on "
              f"{sim.RELAY_ADDRESS} is an open relay; mta-sts.{sim.DOMAIN} serves HTTPS on "
              f"port {domain.https_port}.\n"
              f"{domain.files / 'mail.log'} is a day of {sim.CLEAN_HOST}'s Postfix log: a "
              f"stolen password, a busy web form, receivers refusing.\n")
        planned = commands(domain)
        runs = report.run_all([command for command, _ in planned])
    for run in runs:
        print(report.shell_line(run.command))
        print(run.output.rstrip("\n"))
        print(f"(exit {run.code}: {run.state})\n")
    wrong = [run for run, (_, want) in zip(runs, planned) if run.code != want]
    print("demo finished: every plugin answered as expected." if not wrong else
          "demo finished, but some plugin did not answer as expected.")
    return 1 if wrong else 0


def serve(dns_port: int = DNS_PORT, smtp_port: int = SMTP_PORT, files: Path = FILES,
          https_port: int = HTTPS_PORT) -> int:
    """Keep the simulated domain serving until interrupted (Ctrl-C, SIGTERM)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        domain = sim.SimulatedDomain(dns_port, smtp_port, files, https_port)
        domain.__enter__()
    except OSError as exc:
        print(f"check-mail demo: cannot serve: {exc.strerror or exc} (ports {dns_port}, "
              f"{smtp_port} and {https_port}; choose others with --dns-port, --smtp-port "
              "and --https-port)")
        return 3
    try:
        ns, port = domain.nameserver, domain.smtp_port
        print(f"check-mail demo: {sim.DOMAIN} is served on loopback until you press Ctrl-C.\n"
              f"  DNS   {ns}\t\t\tgive plugins: -n {ns}\n"
              f"  SMTP  {sim.SMTP_ADDRESS}:{port} ({sim.SMTP_HOST}), {sim.RELAY_ADDRESS}:{port} "
              f"({sim.RELAY_HOST})\tgive plugins: -p {port}\n"
              f"  HTTPS {sim.SMTP_ADDRESS}:{domain.https_port} (mta-sts.{sim.DOMAIN})\t\t"
              f"give check_tls: --mta-sts-port {domain.https_port}\n"
              f"  files {files}: signed.eml, altered.eml, newsletter.eml, rsa2026.pem, "
              f"old-rsa2026.pem, ca.pem, relay.password, networks.txt, mail.log, postqueue\n"
              f"try:  check_rbl -n {ns} -H {sim.LISTED_HOST} -v", flush=True)
        while not stop.wait(1.0):  # woken by the signal handlers above
            pass
    finally:
        domain.__exit__()
    return 0
