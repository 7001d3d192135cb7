"""What a user gets from pip: the sdist and the wheel each install every
executable, the sdist holds what it takes to test and configure, and
`check-mail config icinga2` from either install gives a configuration that
icinga2 accepts. Built without network (--no-isolation)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest

from tests.helpers.monitoring import ITL, icinga2_check
from tests.helpers.plugins import ROOT

EXECUTABLES = ("check_rbl", "check_ptr", "check_postmaster", "check_spf", "check_dkim",
               "check-mail")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation",
                    "--outdir", str(out), str(ROOT)], check=True, capture_output=True)
    return {"sdist": next(out.glob("*.tar.gz")), "wheel": next(out.glob("*.whl"))}


def test_the_sdist_holds_tests_definitions_benchmarks_and_licence(built):
    with tarfile.open(built["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for wanted in ("LICENSE", "README.md", "setup.cfg", "pyproject.toml", ".ci/run",
                   "plugins/check_rbl", "tests/conftest.py", "tests/helpers/plugins.py",
                   "tests/data/rfc8463-a3.eml", "bench/rbl.py",
                   "check_mail/data/icinga2/check-mail-commands.conf",
                   "check_mail/data/nagios/check-mail-commands.cfg",
                   "check_mail/data/dnsbl-zones.ini"):
        assert wanted in names, wanted


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_an_install_has_every_executable_and_prints_its_configuration(built, kind, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(built[kind])],
                   check=True, capture_output=True)
    env = dict(os.environ, PYTHONPATH=str(target))
    for name in EXECUTABLES:
        run = subprocess.run([str(target / "bin" / name), "--version"], capture_output=True,
                             text=True, env=env)
        assert run.returncode == 3 and "0." in run.stdout, (name, run.stdout, run.stderr)
    printed = subprocess.run([str(target / "bin" / "check-mail"), "config", "icinga2"],
                             capture_output=True, text=True, env=env, check=True).stdout
    assert f'globals.CheckMailPluginDir = "{target / "bin"}"' in printed
    (tmp_path / "check-mail.conf").write_text(printed)
    config = tmp_path / "icinga2.conf"
    config.write_text(ITL + f'include "{tmp_path}/check-mail.conf"\n')
    icinga2_check(config, tmp_path)
