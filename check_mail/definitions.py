"""The Icinga 2 and Nagios definitions that ship inside the package
(data/icinga2/, data/nagios/; icinga2-conf/ and nagios/ at the top of the
source tree point there), printed by ``check-mail config`` with this
install's plugin directory filled in, so a pip install needs no source tree.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from check_mail import __version__

DATA = Path(__file__).with_name("data")
FILES = {"icinga2": ("check-mail-commands.conf", "check-mail-services.conf"),
         "nagios": ("check-mail-commands.cfg", "check-mail-services.cfg")}


def plugin_dir() -> str:
    """Where this install's plugins are: beside the running command, else on PATH."""
    here = Path(sys.argv[0]).resolve().parent
    if (here / "check_rbl").exists():
        return str(here)
    found = shutil.which("check_rbl", path=str(Path(sys.executable).parent)) or \
        shutil.which("check_rbl")
    return str(Path(found).parent) if found else str(Path(sys.executable).parent)


def render(kind: str, directory: str) -> str:
    """Both files of ``kind`` (icinga2 or nagios), ready to install."""
    texts = [(DATA / kind / name).read_text(encoding="utf-8") for name in FILES[kind]]
    if kind == "icinga2":
        header = (f"/* check-mail {__version__}: Icinga 2 CheckCommands and apply rules, from\n"
                  f" * `check-mail config icinga2`. The plugins are in {directory}; a\n"
                  " * CheckMailPluginDir constant of your own takes precedence. */\n\n"
                  'if (!globals.contains("CheckMailPluginDir")) {\n'
                  f"  globals.CheckMailPluginDir = {json.dumps(directory)}\n}}\n\n")
        return header + "\n".join(texts)
    commands, services = texts
    # The source's header tells how to set $USER10$: printed, the folder is
    # filled in instead, in the definitions only (never inside a comment).
    commands = commands.split("\n\n", 1)[1]
    commands = "\n".join(line if line.startswith("#") else line.replace("$USER10$", directory)
                         for line in commands.splitlines()) + "\n"
    # The example services define an example host; they are for reading, commented out.
    examples = "".join(f"# {line}".rstrip() + "\n" for line in services.splitlines())
    return (f"# check-mail {__version__}: Nagios/Naemon commands, from `check-mail config "
            f"nagios`,\n# with the plugins in {directory}. Example services follow, "
            "commented out.\n\n" + commands + "\n" + examples)
