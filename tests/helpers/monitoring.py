"""The real icinga2 binary, validating a configuration as a user's would be."""

from __future__ import annotations

import getpass
import grp
import os
import shutil
import subprocess
from pathlib import Path

from tests.helpers.plugins import ROOT, need

ICINGA = ROOT / "icinga2-conf"
NAGIOS = ROOT / "nagios"

ITL = """\
include <itl>
include <plugins>
const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "/usr/lib/nagios/plugins"
const ManubulonPluginDir = "/usr/lib/nagios/plugins"
"""


def binary(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name,)
                                       if p.exists()), None)


def icinga2_check(config: Path, tmp: Path) -> str:
    """``icinga2 daemon -C`` as this user, with every state folder in ``tmp``."""
    icinga2 = binary("icinga2")
    need(icinga2 is not None, "icinga2 is not installed (apt-get install icinga2-bin)")
    assert icinga2 is not None
    user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
    dirs = [f"-D{name}={tmp}" for name in ("CacheDir", "DataDir", "LogDir", "SpoolDir",
                                            "StateDir", "InitRunDir")]
    proc = subprocess.run([icinga2, "daemon", "-C", "-c", str(config),
                           f"-DRunAsUser={user}", f"-DRunAsGroup={group}", *dirs],
                          capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    return output
