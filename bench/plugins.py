#!/usr/bin/env python3
"""Time every plugin as a monitoring server runs it, against the simulated domain.

    python bench/plugins.py [--runs 10]

Starts the demo's scripted nameserver and SMTP server on loopback and prints,
for each plugin, the wall time of the whole process (median and max), its peak
memory (with GNU time installed), and the cost of --version.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from measure import measure

from check_mail.report import plugin_path
from check_mail.simulation import maildomain as sim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with sim.SimulatedDomain() as domain:
        assert domain.files is not None
        mail = domain.files / "signed.eml"
        ns, port = ["-n", domain.nameserver], ["-p", str(domain.smtp_port)]
        cases = {
            "check_rbl": ["-H", sim.CLEAN_HOST, *ns],
            "check_ptr": ["-H", sim.SMTP_HOST, "--smtp", *port, *ns],
            "check_postmaster": ["-D", sim.DOMAIN, *port, *ns],
            "check_spf": ["-D", sim.DOMAIN, "--ip", sim.LISTED_ADDRESS, *ns],
            "check_dkim": ["-D", sim.DOMAIN, "-s", "rsa2026", "-s", "ed2026", "--message",
                           str(mail), *ns],
            "check_relay": ["-H", sim.SMTP_HOST, *port, *ns],
            "check_dmarc": ["-D", sim.DOMAIN, *ns],
            "check_tls": ["-D", sim.DOMAIN, *port, *ns, "--ca-file", str(domain.files / "ca.pem"),
                          "--mta-sts-port", str(domain.https_port)],
        }
        print(f"{'plugin':<18}{'median':>10}{'max':>10}{'--version':>12}   (ms over "
              f"{args.runs} runs; peak RSS of one run)")
        for name, plugin_args in cases.items():
            exe = plugin_path(name)
            subprocess.run([exe, *plugin_args], capture_output=True)  # warm the page cache
            times, peak = measure([exe, *plugin_args], args.runs)
            version, _ = measure([exe, "--version"], args.runs)
            print(f"{name:<18}{statistics.median(times) * 1000:>10.1f}"
                  f"{max(times) * 1000:>10.1f}{statistics.median(version) * 1000:>12.1f}"
                  + (f"   peak {peak:.1f} MiB" if peak else ""))
        peer(domain, args.runs)
    floor, _ = measure([sys.executable, "-c", "pass"], args.runs)
    print(f"python3 -c pass: {statistics.median(floor) * 1000:.1f} ms")


def peer(domain: sim.SimulatedDomain, runs: int) -> None:
    """check_tls -H beside the Monitoring Plugins' check_smtp -S -D (one host,
    STARTTLS and the certificate's days left, in C): what a user has otherwise."""
    import shutil

    check_smtp = shutil.which("check_smtp") or "/usr/lib/nagios/plugins/check_smtp"
    if not shutil.which(check_smtp):
        print("check_smtp (monitoring-plugins-standard) is not installed: no peer to compare")
        return
    port = str(domain.smtp_port)
    for name, command in (
            ("check_smtp -S -D", [check_smtp, "-H", sim.SMTP_ADDRESS, "-p", port, "-S",
                                  "-D", "21,7"]),
            ("check_tls -H", [plugin_path("check_tls"), "-H", sim.SMTP_HOST, "-p", port,
                              "-n", domain.nameserver])):
        times, peak = measure(command, runs)
        print(f"{name:<18}{statistics.median(times) * 1000:>10.1f}{max(times) * 1000:>10.1f}"
              f"{'':>12}" + (f"   peak {peak:.1f} MiB" if peak else ""))


if __name__ == "__main__":
    main()
