"""A real authoritative nameserver (NSD) on loopback, for integration tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from check_mail.dns import Nameserver


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (a small race is accepted)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


class LoopbackDaemon:
    """A server started in the foreground on a loopback port: ``spawn()``
    waits until it listens (or says why it died); leaving the context
    stops it."""

    name = ""
    port = 0
    proc: subprocess.Popen | None = None

    def spawn(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            if self.proc.poll() is not None:
                assert self.proc.stderr is not None
                raise RuntimeError(f"{self.name} exited: {self.proc.stderr.read().decode()}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start listening")

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class NSD(LoopbackDaemon):
    """``NSD(dir, {"zone.example": "zone file text"})``, used as a context manager."""

    name = "nsd"
    binary = shutil.which("nsd") or ("/usr/sbin/nsd" if Path("/usr/sbin/nsd").exists() else None)

    def __init__(self, directory: Path, zones: dict[str, str]) -> None:
        self.dir = directory
        self.zones = zones
        self.port = free_port()

    @property
    def nameserver(self) -> Nameserver:
        return Nameserver("127.0.0.1", self.port)

    def __enter__(self) -> NSD:
        d = self.dir
        conf = [
            "server:",
            f"  ip-address: 127.0.0.1@{self.port}",
            '  username: ""',
            '  database: ""',
            '  chroot: ""',
            f'  zonesdir: "{d}"',
            f'  pidfile: "{d}/nsd.pid"',
            f'  logfile: "{d}/nsd.log"',
            f'  zonelistfile: "{d}/zone.list"',
            f'  xfrdfile: "{d}/xfrd.state"',
            f'  xfrdir: "{d}"',
            "  verbosity: 1",
            "remote-control:",
            "  control-enable: no",
        ]
        for name, text in self.zones.items():
            (d / f"{name}.zone").write_text(text)
            conf += ["zone:", f"  name: {name}", f"  zonefile: {name}.zone"]
        (d / "nsd.conf").write_text("\n".join(conf) + "\n")
        self.spawn([self.binary, "-d", "-c", str(d / "nsd.conf")])
        return self
