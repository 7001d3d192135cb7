"""Icinga 2 running for real, set up as the README says.

- A single node: a daemon loads what ``check-mail config icinga2`` prints,
  in conf.d, with the README's own single-node hosts (taken from the README,
  so the two cannot drift apart) and the variants users write naturally:
  strings for lists, no resolver, a host's own command variable, a short
  object name, values of the wrong type. Every service the rules create is
  run at once (the command pipe), through wrappers that record each call.
  No call may hold an empty argument or an option without its value, and no
  output may be an argument error. The daemon runs in a network namespace of
  its own with only loopback: the README's hosts are not ours to probe.
- A master and an agent: two daemons on loopback with certificates from the
  master's CA (icinga2 pki, as the Icinga documentation sets nodes up by
  hand), the commands and rules in a global zone, the README's distributed
  hosts in the master's zone. The agent is the mail server: check_senders
  and check_refusals run on it through command_endpoint against its own
  log, and their results reach the master.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from check_mail.simulation.postfixlog import demo_log
from tests.helpers import icinga
from tests.helpers.nsd import free_port
from tests.helpers.plugins import need

VARIANTS = """\
object Host "strings.example.org" {{     // every list as a plain string
  check_command = "dummy"
  address = "192.0.2.41"
  vars.mail_server = true
  vars.mail_domain = "example.net"
  vars.mail_log = "{log}"
  vars.mail_networks = "203.0.113.0/30"
  vars.mail_domains = "example.net"
  vars.mail_nameservers = "127.0.0.1"
}}

object Host "mail" {{                     // a short name, no resolver, no agent
  check_command = "dummy"
  address = "192.0.2.40"
  vars.mail_server = true
  vars.mail_domain = "example.org"
  vars.mail_smarthost = true
}}

object Host "own-resolver.example.org" {{ // the host's own command variable
  check_command = "dummy"
  address = "192.0.2.42"
  vars.mail_server = true
  vars.mail_rbl_nameserver = "127.0.0.1:53"
}}

object Host "typos.example.org" {{        // types the rules cannot use
  check_command = "dummy"
  vars.mail_networks = {{ a = "203.0.113.0/24" }}
  vars.mail_log = 5
  vars.mail_domains = [ "example.org", 7 ]
  vars.mail_nameservers = {{ x = 1 }}
}}
"""


def services(output: str) -> int:
    match = re.search(r"Instantiated (\d+) Services?\.", output)
    return int(match.group(1)) if match else 0


def run_until_checked(daemon: icinga.Daemon, hosts: list[str], count: int,
                      seconds: float = 150) -> dict[str, dict | None]:
    daemon.start()
    try:
        for _ in range(int(seconds / 2)):  # again and again: until the objects are active
            daemon.check_now(hosts)
            time.sleep(2)
            if len(icinga.checked(daemon.folder)) >= count or not daemon.running():
                break
    finally:
        results = daemon.stop()
    return results


@pytest.fixture
def folder():
    path = Path(tempfile.mkdtemp(prefix="check-mail-icinga2-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_readme_single_node_in_a_running_daemon(folder):
    need(os.getuid() == 0 and shutil.which("unshare") is not None,
         "a private network namespace for the daemon takes root and unshare")
    calls = folder / "calls.log"
    plugins = icinga.wrappers(folder / "plugins", calls)
    log = folder / "postfix.log"
    log.write_text(demo_log(time.time()))
    conf = folder / "conf.d"
    conf.mkdir()
    (conf / "check-mail.conf").write_text(icinga.installed_config(plugins))
    hosts = "\n\n".join(icinga.readme_blocks("A single node"))
    assert 'object Host "mail.example.org"' in hosts
    # A /24 against every zone at the polite pace takes 46 s: a /28 has the
    # same command line, and a run of a second.
    hosts = hosts.replace('"203.0.113.0/24"', '"203.0.113.0/28"')
    (conf / "mail.conf").write_text(hosts + "\n")
    (conf / "variants.conf").write_text(VARIANTS.format(log=log))
    (folder / "icinga2.conf").write_text(icinga.common(folder) + icinga.progress(folder)
                                         + 'include_recursive "conf.d"\n')
    daemon = icinga.Daemon(folder, prefix=icinga.private_network(folder / "demo"))
    validation = daemon.validate()
    count = services(validation)
    for warning in ("'typos.example.org': vars.mail_networks is a Dictionary",
                    "'typos.example.org': vars.mail_log is a Number",
                    "'typos.example.org': vars.mail_domains holds a Number",
                    "'typos.example.org': vars.mail_nameservers is a Dictionary"):
        assert warning in validation, validation[-3000:]
    names = icinga.host_names(hosts + "\n" + VARIANTS)
    results = run_until_checked(daemon, names, count)
    assert len(results) == count, daemon.log[-3000:]
    never = sorted(name for name, result in results.items() if result is None)
    assert not never, (never, daemon.log[-3000:])
    for name, result in results.items():
        assert result is not None
        assert " UNKNOWN - argument " not in result["output"], (name, result["output"])
    made = icinga.recorded(calls)
    icinga.assert_called_well(made)
    # What the variants must have become on the command line:
    assert ["check_senders", "--log", str(log)] in [c[:3] for c in made]  # a string: one log
    assert ["check_rbl", "-H", "192.0.2.40"] in [c[:3] for c in made]  # "mail": its address
    assert not any("--expect" in c for c in made if "192.0.2.40" in c)  # no full name: none
    own = [c for c in made if c[0] == "check_rbl" and "192.0.2.42" in c]
    assert own and all(c[c.index("-n") + 1] == "127.0.0.1:53" for c in own)
    assert any(c[:3] == ["check_rbl", "-H", "203.0.113.0/30"] for c in made)
    ptr = [" ".join(c) for c in made if c[0] == "check_ptr"]
    assert any("--expect mail.example.org " in c and "-H 192.0.2.25" in c for c in ptr), ptr


def test_a_master_and_an_agent_run_the_log_checks_where_the_log_is(folder):
    need(os.getuid() == 0 and shutil.which("unshare") is not None,
         "a private network namespace for the daemons takes root and unshare")
    master_dir, agent_dir = folder / "master", folder / "agent"
    for path in (master_dir, agent_dir):
        path.mkdir()
    master = icinga.Daemon(master_dir, node="master.example.org")
    agent = icinga.Daemon(agent_dir, node="mx1.example.org")
    # The certificates, as the Icinga documentation makes them by hand.
    master.pki("new-ca")
    for node, daemon in (("master.example.org", master), ("mx1.example.org", agent)):
        certs = daemon.folder / "certs"
        certs.mkdir()
        daemon.pki("new-cert", "--cn", node, "--key", str(certs / f"{node}.key"),
                   "--csr", str(certs / f"{node}.csr"))
        master.pki("sign-csr", "--csr", str(certs / f"{node}.csr"),
                   "--cert", str(certs / f"{node}.crt"))
        shutil.copy(master_dir / "ca" / "ca.crt", certs / "ca.crt")
    ports = {"master.example.org": free_port(), "mx1.example.org": free_port()}
    zones = "".join(
        f'object Endpoint "{node}" {{ host = "127.0.0.1"; port = {port} }}\n'
        for node, port in ports.items()) + (
        'object Endpoint "outside.example.net" { }\n'
        'object Zone "master" { endpoints = [ "master.example.org" ] }\n'
        'object Zone "mx1.example.org" { endpoints = [ "mx1.example.org" ]; '
        'parent = "master" }\n'
        'object Zone "outside.example.net" { endpoints = [ "outside.example.net" ]; '
        'parent = "master" }\n'
        'object Zone "global-templates" { global = true }\n')
    log = agent_dir / "mail.log"
    log.write_text(demo_log(time.time()))
    calls = folder / "calls.log"
    plugins = icinga.wrappers(folder / "plugins", calls)
    global_zone = master_dir / "zones.d" / "global-templates"
    global_zone.mkdir(parents=True)
    (global_zone / "check-mail.conf").write_text(icinga.installed_config(plugins))
    hosts = "\n\n".join(icinga.readme_blocks("Distributed monitoring"))
    assert 'vars.agent_endpoint = "mx1.example.org"' in hosts
    # The agent's log is the test's; its queue an empty one (this machine's
    # Postfix, when installed, is not configured).
    queue = agent_dir / "postqueue"
    queue.write_text("#!/bin/sh\n")
    queue.chmod(0o755)
    hosts = hosts.replace("vars.mail_log = true", f'vars.mail_log = "{log}"\n'
                          f'  vars.mail_refusals_postqueue = "{queue}"')
    (master_dir / "zones.d" / "master").mkdir()
    (master_dir / "zones.d" / "master" / "mail.conf").write_text(hosts + "\n")
    for node, daemon in (("master.example.org", master), ("mx1.example.org", agent)):
        accept = "accept_config = true; accept_commands = true" if daemon is agent else ""
        (daemon.folder / "icinga2.conf").write_text(
            icinga.common(daemon.folder) + zones
            + f'object ApiListener "api" {{ bind_host = "127.0.0.1"; bind_port = '
              f'{ports[node]}; {accept} }}\n'
            + (icinga.progress(daemon.folder) if daemon is master else ""))
    count = services(master.validate())
    assert count
    # One network namespace for both: loopback between them, nothing beyond.
    namespace = f"check-mail-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
                       check=True)
        inside = ["ip", "netns", "exec", namespace]
        master.prefix = agent.prefix = inside
        agent.start()
        try:
            wanted = {"mx1.example.org!mail-senders": "SENDERS",
                      "mx1.example.org!mail-refusals": "REFUSALS"}
            master.start()
            try:
                for _ in range(120):  # until the agent has the commands and both have run
                    master.check_now(["mx1.example.org"])
                    time.sleep(1)
                    seen = icinga.checked(master_dir)
                    if all(seen.get(name, "").startswith(plugin)
                           for name, plugin in wanted.items()) or not master.running():
                        break
            finally:
                results = master.stop()
        finally:
            agent_log = agent.stop_log()
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)
    for name in sorted(wanted):
        result = results.get(name)
        assert result is not None, (name, master.log[-3000:], agent_log)
        assert result["check_source"] == "mx1.example.org", result
        service = "SENDERS" if name.endswith("senders") else "REFUSALS"
        assert result["output"].startswith(f"{service} CRITICAL - "), result["output"]
    made = icinga.recorded(calls)
    assert any(c[0] == "check_senders" and str(log) in c for c in made), made
    icinga.assert_called_well(made)
