"""A real Postfix on a loopback port, with its own configuration directory.

It runs as root (``postfix start`` requires it) but listens only on
127.0.0.1:PORT and delivers nothing: the tests only ever probe it. Every
folder on its paths must be traversable by the postfix user, so it lives in
a world-readable temporary folder rather than under pytest's private one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MASTER = """\
{listen} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
showq unix n - n - - showq
postlog unix-dgram n - n - 1 postlogd
tlsmgr unix - - n 1000? 1 tlsmgr
"""

MAIN = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = {hostname}
mydomain = {domain}
myorigin = $mydomain
mydestination = $myhostname, localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP
# Loopback only: no lookups through the host's resolver.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
alias_maps =
alias_database =
biff = no
"""


def available() -> str:
    """Why Postfix cannot run here, or "" when it can."""
    if not shutil.which("postfix") and not Path("/usr/sbin/postfix").exists():
        return "Postfix is not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "Postfix must be started as root"
    return ""


class Postfix:
    """``with Postfix(port, "mail.example.test", extra_main=...) as mta: ...``"""

    def __init__(self, port: int, hostname: str, extra_main: str = "",
                 files: dict[str, str] | None = None) -> None:
        self.port = port
        self.hostname = hostname
        self.extra_main = extra_main
        self.files = files or {}
        self.dir = Path(tempfile.mkdtemp(prefix="check-mail-postfix-"))

    def _postfix(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["postfix", "-c", str(self.dir / "conf"), *args],
                              capture_output=True, text=True, timeout=60)

    def __enter__(self) -> Postfix:
        d = self.dir
        d.chmod(0o755)
        for sub in ("conf", "data", "queue"):
            (d / sub).mkdir()
        shutil.chown(d / "data", "postfix")
        for name, text in self.files.items():
            (d / name).parent.mkdir(parents=True, exist_ok=True)
            (d / name).write_text(text.format(dir=d))
        domain = self.hostname.split(".", 1)[1]
        (d / "conf" / "main.cf").write_text(
            MAIN.format(dir=d, hostname=self.hostname, domain=domain)
            + self.extra_main.format(dir=d))
        (d / "conf" / "master.cf").write_text(MASTER.format(listen=f"127.0.0.1:{self.port}"))
        result = self._postfix("start")
        if result.returncode != 0:
            raise RuntimeError(f"postfix start failed: {result.stdout}{result.stderr}")
        self._wait()
        return self

    def _wait(self) -> None:
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"postfix did not listen: {self.log()}")

    def log(self) -> str:
        path = self.dir / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *exc: object) -> None:
        pid_file = self.dir / "queue" / "pid" / "master.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else 0
        self._postfix("stop")
        for _ in range(200 if pid else 0):  # until master has gone and the queue is free
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
