"""What checks are pointed at: addresses, networks, hostnames, hosts files."""

from __future__ import annotations

import re

import pytest

from check_mail import addresses


@pytest.mark.parametrize("text,network,hostname", [
    ("192.0.2.1", "192.0.2.1/32", ""),
    ("2001:db8::1", "2001:db8::1/128", ""),
    ("203.0.113.0/24", "203.0.113.0/24", ""),
    ("203.0.113.7/24", "203.0.113.0/24", ""),  # host bits dropped, as network tools do
    ("2001:db8:1::/120", "2001:db8:1::/120", ""),
    ("mail.example.org", None, "mail.example.org"),
])
def test_parse(text, network, hostname):
    entry = addresses.parse(text)
    assert (str(entry.network) if entry.network else None, entry.hostname) == (network, hostname)


@pytest.mark.parametrize("text,message", [
    ("203.0.113.0/33", "'203.0.113.0/33' is not a network: /33 is too long"),
    ("203.0.113.0/", "'203.0.113.0/' is not a network (such as 203.0.113.0/24)"),
    ("host/24", "'host/24' is not a network (such as 203.0.113.0/24)"),
    ("fe80::1%eth0", "'fe80::1%eth0' is neither an IP address, a network nor a hostname"),
    ("not a host", "'not a host' is neither an IP address, a network nor a hostname"),
])
def test_parse_refuses(text, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        addresses.parse(text)


def test_a_hosts_file():
    entries = addresses.read("# ranges\n\n203.0.113.0/30  # customers\nmail.example.org\n"
                             "203.0.113.1\n2001:db8::/126\n", "hosts.txt")
    assert [e.text for e in entries] == ["203.0.113.0/30", "mail.example.org", "203.0.113.1",
                                         "2001:db8::/126"]
    assert entries[1].where == "hosts.txt, line 4"
    assert addresses.size(entries) == 4 + 1 + 1 + 4
    assert list(addresses.expand(entries)) == [  # each once, in order; names not resolved
        "203.0.113.0", "203.0.113.1", "203.0.113.2", "203.0.113.3",
        "2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3"]


def test_a_bad_line_is_named():
    with pytest.raises(ValueError, match=r"^hosts.txt, line 2: 'x y' is neither"):
        addresses.read("192.0.2.1\nx y\n", "hosts.txt")


def test_the_size_of_a_typo_is_known_before_expanding():
    assert addresses.size([addresses.parse("10.0.0.0/8")]) == 1 << 24
    assert addresses.size([addresses.parse("2001:db8::/32")]) == 1 << 96
