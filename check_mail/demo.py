"""check-mail: run every plugin against one mail server and domain, or the demo.

``check-mail -H mail.example.org -D example.org`` runs each plugin against the
real thing with the system resolver. Without ``-H``/``-D`` it starts a
simulated mail domain on loopback (see simulation/maildomain.py) and runs each
plugin against it, so a machine without a mail server shows what the plugins
do and how their output reads.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def plugin_path(name: str) -> str:
    """The installed plugin beside this interpreter, else the one on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        raise SystemExit(f"check-mail: {name} is not installed (pip install .)")
    return found


def run(name: str, args: list[str]) -> int:
    print(f"$ {name} {shlex.join(args)}")
    proc = subprocess.run([plugin_path(name), *args], capture_output=True, text=True)
    print(proc.stdout.rstrip("\n"))
    print(f"(exit {proc.returncode}: {STATES.get(proc.returncode, '?')})\n")
    return proc.returncode


def real(host: str | None, domain: str | None, extra: list[str]) -> int:
    """The worst exit code of the plugins run against the real server and domain."""
    target = (["-H", host] if host else []) + (["-D", domain] if domain else [])
    codes = [run("check_rbl", [*target, "-v", *extra])]
    if host:
        codes.append(run("check_ptr", ["-H", host, "--smtp", "-v", *extra]))
    if domain:
        codes.append(run("check_postmaster", ["-D", domain, "-v", *extra]))
        spf = ["-D", domain, "-v", *extra] + (["--ip", host] if host else [])
        codes.append(run("check_spf", spf))
    return max(codes)


def demo() -> int:
    from check_mail.simulation import maildomain as sim
    from check_mail.simulation.dnsserver import ScriptedNameserver
    from check_mail.simulation.smtpserver import ScriptedSmtpServer

    with ScriptedNameserver() as dns, ScriptedSmtpServer(sim.smtp_behaviour()) as mta, \
            tempfile.TemporaryDirectory() as tmp:
        sim.populate(dns)
        ns = ["-n", dns.address]
        selectors = [arg for s in sim.DKIM_SELECTORS for arg in ("-s", s)]
        mail, forged = Path(tmp) / "signed.eml", Path(tmp) / "altered.eml"
        mail.write_bytes(sim.signed_message())
        forged.write_bytes(mail.read_bytes().replace(b"We lost", b"We won"))
        print(f"check-mail demo: a simulated mail domain, {sim.DOMAIN}, served by a scripted "
              f"nameserver on {dns.address}.\n"
              f"{sim.CLEAN_HOST} is clean; {sim.LISTED_HOST} is listed on two blocklists and "
              f"has a generic PTR;\n{sim.SMTP_HOST}, the MX, answers SMTP on "
              f"{sim.SMTP_ADDRESS} port {mta.port}.\n")
        expected = [
            (run("check_rbl", ["-H", sim.CLEAN_HOST, *ns]), 0),
            (run("check_rbl", ["-H", sim.LISTED_HOST, "-v", *ns]), 2),
            (run("check_rbl", ["-D", sim.DOMAIN, "--selftest", *ns]), 0),
            (run("check_ptr", ["-H", sim.CLEAN_HOST, "-v", *ns]), 0),
            (run("check_ptr", ["-H", sim.LISTED_HOST, *ns]), 1),
            (run("check_ptr", ["-H", sim.SMTP_HOST, "--smtp", "-p", str(mta.port), "-v", *ns]),
             0),
            (run("check_postmaster", ["-D", sim.DOMAIN, "-p", str(mta.port), *ns]), 0),
            (run("check_postmaster", ["-D", sim.DOMAIN, "-p", str(mta.port), "--mailbox",
                                      "postmaster", "--mailbox", "noc", "-v", *ns]), 1),
            (run("check_spf", ["-D", sim.DOMAIN, "-v", *ns]), 0),
            (run("check_spf", ["-D", sim.DOMAIN, "--ip", sim.LISTED_ADDRESS, "--ip",
                               sim.OUTSIDER, "--mx-must-pass", *ns]), 2),
            (run("check_dkim", ["-D", sim.DOMAIN, *selectors, *ns]), 0),
            (run("check_dkim", ["-D", sim.DOMAIN, "--message", str(mail), "-v", *ns]), 0),
            (run("check_dkim", ["-D", sim.DOMAIN, "--message", str(forged), *ns]), 2),
        ]
    wrong = [got for got, want in expected if got != want]
    print("demo finished: every plugin answered as expected." if not wrong else
          "demo finished, but some plugin did not answer as expected.")
    return 1 if wrong else 0


class Parser(argparse.ArgumentParser):
    """Bad arguments exit 3 (UNKNOWN), as for every plugin of the suite."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stdout)
        sys.stdout.write(f"{self.prog}: error: {message}\n")
        sys.exit(3)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="check-mail", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-H", "--host", help="the mail server to check")
    parser.add_argument("-D", "--domain", help="the mail domain to check")
    parser.add_argument("--demo", action="store_true",
                        help="run against the simulated domain (the default without -H/-D)")
    parser.add_argument("extra", nargs=argparse.REMAINDER,
                        help="after --, options passed to every plugin (e.g. -- -n 192.0.2.53)")
    args = parser.parse_args(argv)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    if args.demo or not (args.host or args.domain):
        return demo()
    return real(args.host, args.domain, extra)


if __name__ == "__main__":
    sys.exit(main())
