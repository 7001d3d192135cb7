"""A real Icinga 2 daemon for the tests: its own configuration, state, log
and run folders, a command pipe to make it check at once, its state file
read back, and plugin wrappers that record how Icinga called each plugin."""

from __future__ import annotations

import getpass
import grp
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.monitoring import ITL, binary
from tests.helpers.plugins import need
from tests.helpers.readme import README

PLUGINS = ("check_rbl", "check_ptr", "check_postmaster", "check_spf", "check_dkim",
           "check_dmarc", "check_relay", "check_tls", "check_senders", "check_refusals")
WRAPPER = """\
#!{python}
# Records how Icinga called the plugin, then runs it.
import json, os, sys
with open({calls!r}, "a") as out:
    out.write(json.dumps([{name!r}, *sys.argv[1:]]) + "\\n")
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


def icinga2() -> str:
    found = binary("icinga2")
    need(found is not None, "icinga2 is not installed (apt-get install icinga2-bin)")
    assert found is not None
    return found


def wrappers(folder: Path, calls: Path) -> Path:
    """A plugin folder whose plugins record their arguments in ``calls``
    (one JSON array a line: the plugin, then its arguments) and run the
    installed plugin."""
    folder.mkdir(parents=True, exist_ok=True)
    real = Path(sys.executable).parent
    for name in PLUGINS:
        path = folder / name
        path.write_text(WRAPPER.format(python=sys.executable, calls=str(calls), name=name,
                                       real=str(real / name)))
        path.chmod(0o755)
    return folder


def recorded(calls: Path) -> list[list[str]]:
    if not calls.exists():
        return []
    return [json.loads(line) for line in calls.read_text().splitlines()]


def installed_config(plugin_dir: Path) -> str:
    """What ``check-mail config icinga2`` prints: the file the README installs."""
    tool = Path(sys.executable).parent / "check-mail"
    return subprocess.run([str(tool), "config", "icinga2", "--plugin-dir", str(plugin_dir)],
                          capture_output=True, text=True, check=True).stdout


def readme_blocks(section: str) -> list[str]:
    """The configuration blocks (``` without a language) of a subsection of
    the README's Icinga 2 section that define hosts."""
    text = README.read_text()
    icinga = text.split("\n## Icinga 2\n", 1)[1].split("\n## ", 1)[0]
    part = icinga.split(f"\n### {section}\n", 1)[1].split("\n### ", 1)[0]
    blocks: list[str] = []
    language: str | None = None  # inside a block: its language, "" for none
    lines: list[str] = []
    for line in part.splitlines():
        if not line.startswith("```"):
            lines.append(line)
        elif language is None:
            language, lines = line[3:], []
        else:
            if not language:
                blocks.append("\n".join(lines))
            language = None
    return [block for block in blocks if "object Host" in block]


def host_names(config: str) -> list[str]:
    return re.findall(r'^object Host "([^"]+)"', config, re.M)


def read_state(path: Path) -> dict[str, dict | None]:
    """Each service's last check result ("host!service" -> result or None),
    from icinga2.state (netstrings of JSON, written when the daemon stops)."""
    data, results, i = path.read_text(), {}, 0
    while i < len(data):
        colon = data.index(":", i)
        length = int(data[i:colon])
        item = json.loads(data[colon + 1:colon + 1 + length])
        i = colon + 1 + length + 1
        if item["type"] == "Service":
            results[item["name"]] = item["update"].get("last_check_result")
    return results


class Daemon:
    """``icinga2 daemon`` on ``folder/icinga2.conf``, everything it writes in
    ``folder``; ``prefix`` runs it inside another command (a network
    namespace). Started by ``start()``, stopped (its state written) by
    ``stop()``."""

    def __init__(self, folder: Path, node: str = "", prefix: list[str] | None = None) -> None:
        self.folder = folder
        self.node = node
        self.prefix = prefix or []
        self.process: subprocess.Popen[str] | None = None
        self.log = ""

    def defines(self) -> list[str]:
        folder = self.folder
        dirs = [f"-D{name}={folder}" for name in ("CacheDir", "DataDir", "LogDir", "SpoolDir",
                                                   "StateDir", "InitRunDir")]
        node = [f"-DNodeName={self.node}"] if self.node else []
        user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
        return ["-c", str(folder / "icinga2.conf"), f"-DRunAsUser={user}",
                f"-DRunAsGroup={group}",
                f"-DZonesDir={folder}/zones.d", f"-DStatePath={folder}/icinga2.state",
                f"-DPidPath={folder}/icinga2.pid", *node, *dirs]

    def validate(self) -> str:
        proc = subprocess.run([icinga2(), "daemon", "-C", *self.defines()], capture_output=True,
                              text=True, timeout=120)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-5000:]
        return output

    def pki(self, *args: str) -> None:
        user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
        subprocess.run([icinga2(), "pki", *args, f"-DRunAsUser={user}", f"-DRunAsGroup={group}",
                        f"-DDataDir={self.folder}"], capture_output=True, text=True, check=True,
                       timeout=60)

    def start(self) -> Daemon:
        self.process = subprocess.Popen([*self.prefix, icinga2(), "daemon", *self.defines()],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        return self

    @property
    def pipe(self) -> Path:
        return self.folder / "icinga2.cmd"

    def check_now(self, hosts: list[str], seconds: float = 30) -> None:
        """Have every service of ``hosts`` checked at once (the command pipe,
        which the ExternalCommandListener of the configuration opens)."""
        for _ in range(int(seconds * 10)):
            if self.pipe.exists() or (self.process and self.process.poll() is not None):
                break
            time.sleep(0.1)
        assert self.pipe.exists(), self.stop_log()
        now = int(time.time())
        fd = os.open(self.pipe, os.O_WRONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "w") as pipe:
            for host in hosts:
                pipe.write(f"[{now}] SCHEDULE_FORCED_HOST_SVC_CHECKS;{host};{now}\n")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> dict[str, dict | None]:
        """Stop the daemon; the services' last results from its state file."""
        self.stop_log()
        state = self.folder / "icinga2.state"
        return read_state(state) if state.exists() else {}

    def stop_log(self) -> str:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.log, _ = self.process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.log, _ = self.process.communicate()
            self.process = None
        return self.log[-5000:]


COMMON = ITL + """\
object IcingaApplication "app" { }
object CheckerComponent "checker" { }
object ExternalCommandListener "command" { command_path = "{pipe}" }
"""


def common(folder: Path) -> str:
    return COMMON.replace("{pipe}", str(folder / "icinga2.cmd"))


# Every check result as a line (the service and its output), so a test knows
# how far the daemon got without stopping it.
PROGRESS = """
object PerfdataWriter "progress" {{
  service_temp_path = "{tmp}/service-perfdata"
  service_perfdata_path = "{tmp}/spool/service-perfdata"
  host_temp_path = "{tmp}/host-perfdata"
  host_perfdata_path = "{tmp}/spool/host-perfdata"
  service_format_template = "SERVICE::$host.name$!$service.name$::$service.output$"
  rotation_interval = 1s
}}
"""


def progress(folder: Path) -> str:
    (folder / "spool").mkdir(exist_ok=True)
    return PROGRESS.format(tmp=folder)


def checked(folder: Path) -> dict[str, str]:
    """The services checked so far ("host!service", from the progress
    writer's files), with their latest output."""
    seen: dict[str, str] = {}
    paths = [*sorted((folder / "spool").glob("service-perfdata*")), folder / "service-perfdata"]
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                if line.startswith("SERVICE::"):
                    name, _, output = line[9:].partition("::")
                    seen[name] = output
    return seen


# A network namespace of the daemon's own, with only loopback, where the
# demo's simulated domain serves DNS on 127.0.0.1:53 (the README's resolver):
# what the README's hosts ask fails at once, and nothing leaves the machine.
# SIGTERM reaches the daemon, which is waited for, then the demo is ended.
PRIVATE = """\
ip link set lo up
"$0" demo --serve --dns-port 53 --smtp-port 10025 --https-port 10443 --files "$1" \
    >/dev/null 2>&1 & demo=$!
shift
"$@" & daemon=$!
trap 'kill -TERM $daemon' TERM
wait $daemon; wait $daemon
kill $demo; wait $demo
"""


def private_network(files: Path) -> list[str]:
    """The prefix that runs a daemon in such a namespace."""
    tool = str(Path(sys.executable).parent / "check-mail")
    return ["unshare", "-n", "sh", "-c", PRIVATE, tool, str(files)]


def assert_called_well(calls: list[list[str]]) -> None:
    """No plugin got an empty argument, or an option where a value belongs."""
    from importlib import import_module

    for call in calls:
        name, args = call[0], call[1:]
        assert "" not in args, call
        parser = import_module(f"check_mail.checks.{name.removeprefix('check_')}").parser()
        takes_value = {option for action in parser._actions if action.nargs != 0
                       for option in action.option_strings}
        for option, value in zip(args, [*args[1:], None]):
            if option in takes_value:
                assert (value is not None and not value.startswith("-")) or \
                    re.match(r"-?\d", value or ""), call

