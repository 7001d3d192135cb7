"""The real icinga2 and nagios4 binaries, validating a configuration as a
user's would be."""

from __future__ import annotations

import getpass
import grp
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.helpers.plugins import ROOT, need

ICINGA = ROOT / "check_mail" / "data" / "icinga2"  # icinga2-conf/ points here
NAGIOS = ROOT / "check_mail" / "data" / "nagios"  # nagios/ points here

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


def nagios_check(files: list[Path], resource: str = "") -> None:
    """``nagios4 -v`` on the shipped object files and ``files``, with ``resource``
    as resource.cfg."""
    nagios = binary("nagios4")
    need(nagios is not None, "nagios4 is not installed (apt-get install nagios4-core)")
    assert nagios is not None
    # nagios4 reads its configuration as the nagios user: no private pytest folder.
    tmp = Path(tempfile.mkdtemp(prefix="check-mail-nagios-"))
    tmp.chmod(0o755)
    try:
        objects = Path("/etc/nagios4/objects")
        (tmp / "resource.cfg").write_text(resource)
        listed = [objects / f for f in ("commands.cfg", "contacts.cfg", "timeperiods.cfg",
                                        "templates.cfg")]
        copies = []
        for i, path in enumerate(files):
            copy = tmp / f"{i}-{path.name}"
            copy.write_text(path.read_text())
            copy.chmod(0o644)
            copies.append(copy)
        (tmp / "nagios.cfg").write_text(
            f"log_file={tmp}/nagios.log\n"
            + "".join(f"cfg_file={f}\n" for f in [*listed, *copies])
            + f"resource_file={tmp}/resource.cfg\nillegal_macro_output_chars=`~$&|'\"<>\n")
        proc = subprocess.run([nagios, "-v", str(tmp / "nagios.cfg")], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout
        assert "Total Warnings: 0" in proc.stdout and "Total Errors:   0" in proc.stdout, \
            proc.stdout
    finally:
        shutil.rmtree(tmp)
