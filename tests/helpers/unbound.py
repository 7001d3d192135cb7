"""DNSSEC for real: a zone signed with ldns-signzone, served by NSD, and a
validating Unbound on loopback that trusts only that zone's key, so the AD
bit a plugin sees is Unbound's own verdict."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers.nsd import NSD, LoopbackDaemon, free_port

UNBOUND = shutil.which("unbound") or ("/usr/sbin/unbound"
                                      if Path("/usr/sbin/unbound").exists() else None)
SIGNZONE = shutil.which("ldns-signzone")
KEYGEN = shutil.which("ldns-keygen")


def missing() -> str:
    """What is not installed, in words ("" when everything is)."""
    absent = [name for name, found in (("unbound", UNBOUND), ("ldns-signzone", SIGNZONE),
                                       ("ldns-keygen", KEYGEN), ("nsd", NSD.binary))
              if not found]
    return f"{', '.join(absent)} not installed (apt-get install unbound ldnsutils nsd)" \
        if absent else ""


def sign(directory: Path, zone: str, text: str, tamper: tuple[str, str] | None = None) -> tuple[
        str, str]:
    """The zone signed (ECDSA P-256, a KSK and a ZSK), and its DS record.

    ``tamper`` = (old, new) changes the signed text afterwards, so that some
    RRSIG no longer verifies: a bogus answer for the validator.
    """
    def keygen(*flags: str) -> str:
        out = subprocess.run([KEYGEN, "-a", "ECDSAP256SHA256", *flags, zone], cwd=directory,
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    ksk, zsk = keygen("-k"), keygen()
    unsigned = directory / f"{zone}.unsigned"
    unsigned.write_text(text)
    subprocess.run([SIGNZONE, "-f", str(directory / f"{zone}.signed"), str(unsigned), ksk, zsk],
                   cwd=directory, capture_output=True, text=True, check=True)
    signed = (directory / f"{zone}.signed").read_text()
    if tamper:
        assert tamper[0] in signed, tamper
        signed = signed.replace(tamper[0], tamper[1])
    ds = (directory / f"{ksk}.ds").read_text().strip()
    return signed, ds


class Unbound(LoopbackDaemon):
    """A validating resolver for the given stub zones (name -> NSD port), with
    trust anchors (DS records) for the signed ones; used as a context manager."""

    name = "unbound"

    def __init__(self, directory: Path, stubs: dict[str, int], anchors: list[str]) -> None:
        self.dir = directory
        self.stubs = stubs
        self.anchors = anchors
        self.port = free_port()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Unbound:
        d = self.dir
        conf = [
            "server:",
            f"  interface: 127.0.0.1@{self.port}",
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            f'  directory: "{d}"',
            f'  pidfile: "{d}/unbound.pid"',
            "  use-syslog: no",
            f'  logfile: "{d}/unbound.log"',
            "  verbosity: 1",
            "  val-log-level: 2",
            "  do-not-query-localhost: no",
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "validator iterator"',
            "  qname-minimisation: no",
            "  harden-dnssec-stripped: yes",
            # Unbound answers NXDOMAIN itself for the RFC 6761 names (test.,
            # invalid., ...) unless told otherwise.
            *(f'  local-zone: "{tld}." nodefault'
              for tld in sorted({zone.rsplit(".", 1)[-1] for zone in self.stubs})),
            *(f'  trust-anchor: "{anchor}"' for anchor in self.anchors),
            "remote-control:",
            "  control-enable: no",
        ]
        for zone, port in self.stubs.items():
            conf += ["stub-zone:", f'  name: "{zone}"', f"  stub-addr: 127.0.0.1@{port}"]
        (d / "unbound.conf").write_text("\n".join(conf) + "\n")
        check = subprocess.run(["unbound-checkconf", str(d / "unbound.conf")],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"unbound.conf: {check.stdout}{check.stderr}")
        self.spawn([UNBOUND, "-d", "-c", str(d / "unbound.conf")])
        return self
