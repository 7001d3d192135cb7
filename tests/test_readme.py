"""The README shows what the plugins do: each example is run again against
`check-mail demo --serve` and must print what the README shows, and each
option table must be the plugin's own --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import readme
from tests.helpers.nsd import free_port
from tests.helpers.plugins import executable


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The simulated domain, served by the installed command as a user starts it."""
    dns_port, smtp_port, https_port = free_port(), free_port(), free_port()
    files = tmp_path_factory.mktemp("demo")
    proc = subprocess.Popen([executable("check-mail"), "demo", "--serve", "--dns-port",
                             str(dns_port), "--smtp-port", str(smtp_port), "--https-port",
                             str(https_port), "--files", str(files)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = proc.stdout.readline()
    assert "served on loopback" in banner, banner + proc.stdout.read()
    yield {readme.DNS: f"127.0.0.1:{dns_port}", readme.SMTP: str(smtp_port),
           readme.HTTPS: str(https_port), readme.FILES: str(files)}
    proc.terminate()
    assert proc.wait(10) == 0


EXAMPLES = readme.examples()


def test_there_are_examples_for_every_plugin():
    assert {example.command[0] for example in EXAMPLES} >= {*readme.PLUGINS, "check-mail"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"line {e.line}")
def test_examples_print_what_the_readme_shows(served, example):
    def here(text: str) -> str:  # the README's ports and folder, as served in this test
        for shown, actual in served.items():
            text = text.replace(shown, actual)
        return text

    def shown(text: str) -> str:
        for readme_value, actual in served.items():
            text = text.replace(actual, readme_value)
        return readme.normal(text)

    command = [here(arg) for arg in example.command]
    proc = subprocess.run([executable(command[0]), *command[1:]], capture_output=True,
                          text=True, timeout=60)
    assert proc.stderr == ""
    got = [shown(line) for line in proc.stdout.splitlines()]
    assert got == [readme.normal(line) for line in example.output], (
        f"README.md line {example.line}: $ {' '.join(example.command)}")


@pytest.mark.parametrize("plugin", readme.PLUGINS)
def test_option_tables_are_the_plugins_own_help(plugin):
    assert readme.readme_table(plugin) == readme.option_table(plugin), (
        f"the options of {plugin} in README.md differ from its --help; "
        f"`{sys.executable} -m tests.helpers.readme` prints the table to paste")
