"""Postfix's lines read as messages and deliveries (check_mail.postfixlog),
and deliveries read as refusals (check_mail.refusals)."""

from __future__ import annotations

import time

import pytest

from check_mail import maillog, postfixlog, refusals
from check_mail.simulation.postfixlog import REPLIES, LogWriter, Message, Recipient

# A real Postfix 3.7's log of one message from mynetworks, bounced for want of DNS.
REAL = """\
Nov 29 05:51:45 mail postfix/smtpd[9124]: connect from unknown[127.0.0.1]
Nov 29 05:51:46 mail postfix/smtpd[9124]: 06BFE21E9A7: client=unknown[127.0.0.1]
Nov 29 05:51:46 mail postfix/cleanup[9128]: 06BFE21E9A7: message-id=<20261129055146.06BFE21E9A7@mail.example.test>
Nov 29 05:51:46 mail postfix/qmgr[9122]: 06BFE21E9A7: from=<alice@example.test>, size=325, nrcpt=1 (queue active)
Nov 29 05:51:46 mail postfix/smtp[9129]: 06BFE21E9A7: to=<bob@example.org>, relay=none, delay=0.04, delays=0.02/0.03/0/0, dsn=5.4.4, status=bounced (unable to look up host example.org: Name or service not known)
Nov 29 05:51:46 mail postfix/cleanup[9128]: 0FBB821E9A9: message-id=<20261129055146.0FBB821E9A9@mail.example.test>
Nov 29 05:51:46 mail postfix/bounce[9130]: 06BFE21E9A7: sender non-delivery notification: 0FBB821E9A9
Nov 29 05:51:46 mail postfix/qmgr[9122]: 0FBB821E9A9: from=<>, size=2279, nrcpt=1 (queue active)
Nov 29 05:51:46 mail postfix/qmgr[9122]: 06BFE21E9A7: removed
"""  # noqa: E501


def parsed(text: str) -> list[maillog.Line]:
    clock = maillog.Clock(time.time())
    return [line for raw in text.splitlines() if (line := maillog.parse(raw, clock))]


def test_a_real_postfix_log():
    lines = parsed(REAL)
    submissions = list(postfixlog.Tracker().submissions(lines))
    assert [(s.sender, s.how, s.client, s.recipients) for s in submissions] == [
        ("alice@example.test", "envelope", "unknown[127.0.0.1]", 1),
        ("", "envelope", "", 1)]  # the bounce, from the null sender
    (delivery,) = postfixlog.deliveries(lines)
    assert (delivery.recipient, delivery.relay, delivery.dsn, delivery.status) == (
        "bob@example.org", "none", "5.4.4", "bounced")
    assert delivery.reply == "unable to look up host example.org: Name or service not known"


def test_who_sent_it():
    writer = LogWriter()
    at = time.time()
    lines = parsed("\n".join(
        writer.message(Message(at, "alice@example.net", [Recipient("x@example.org")],
                               sasl="alice")) +
        writer.message(Message(at, "www-data@mail.example.net",
                               [Recipient("x@example.org"), Recipient("y@example.org")],
                               local="www-data", uid=33)) +
        writer.message(Message(at, "news@example.net", [Recipient("x@example.org")]))))
    found = [(s.sender, s.how, s.envelope, s.client, s.recipients)
             for s in postfixlog.Tracker().submissions(lines)]
    assert found == [("alice", "sasl", "alice@example.net", "unknown[192.0.2.77]", 1),
                     ("www-data", "local", "www-data@mail.example.net", "uid 33", 2),
                     ("news@example.net", "envelope", "news@example.net", "unknown[192.0.2.77]",
                      1)]


def test_a_retried_message_counts_once_even_across_runs():
    writer = LogWriter()
    message = Message(time.time() - 600, "bob@example.net",
                      [Recipient("a@hotmail.com", "deferred", "outlook-banned")], sasl="bob")
    first = parsed("\n".join(writer.message(message)))
    tracker = postfixlog.Tracker()
    assert len(list(tracker.submissions(first))) == 1
    carried = dict(tracker.pending)  # what the state file would keep
    later = parsed("\n".join(writer.retry(message, time.time() - 60)))
    assert list(postfixlog.Tracker(carried).submissions(later)) == []


def test_a_message_split_across_two_runs_counts_once():
    writer = LogWriter()
    lines = parsed("\n".join(writer.message(Message(time.time(), "a@example.net",
                                                    [Recipient("x@example.org")], sasl="a"))))
    tracker = postfixlog.Tracker()
    assert list(tracker.submissions(lines[:2])) == []  # smtpd and cleanup only
    again = postfixlog.Tracker(tracker.pending)
    assert [s.sender for s in again.submissions(lines[2:])] == ["a"]


def test_forgotten_after_an_hour():
    tracker = postfixlog.Tracker({"0A1B2C3D4E": [time.time() - 7200, True, "sasl", "a", ""]})
    tracker.forget(time.time())
    assert tracker.pending == {}


@pytest.mark.parametrize("reply,provider,category,rule", [
    ("outlook-banned", "outlook.com", "blocked", "microsoft-banned-ip"),
    ("gmail-rate", "gmail.com", "rate-limited", "google-rate"),
    ("gmail-auth", "gmail.com", "authentication", "google-authentication"),
    ("yahoo-deferred", "yahoo.com", "rate-limited", "yahoo-deferred"),
    ("unknown-user", "example.org", "recipient-unknown", "recipient-unknown"),
    ("mailbox-full", "example.org", "mailbox-full", "mailbox-full"),
])
def test_refusals_are_classified(reply, provider, category, rule):
    relay, dsn, said = REPLIES[reply]
    delivery = postfixlog.Delivery(0, "Q", "x@example.org" if "example" in relay else
                                   "x@" + provider, relay, dsn, "deferred",
                                   f"host {relay} said: {said}")
    refusal = refusals.classify(delivery, refusals.load())
    assert (refusal.provider, refusal.category, refusal.rule) == (provider, category, rule)


@pytest.mark.parametrize("relay,recipient,reply,provider,category", [
    ("mx.example.net[1.2.3.4]:25", "a@example.net",
     "host mx.example.net said: 554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked "
     "using zen.spamhaus.org", "example.net", "blocked"),
    ("mx00.emig.gmx.net[212.227.15.9]:25", "a@web.de",
     "host mx00.emig.gmx.net said: 554-gmx.net (mxgmx117) Nemesis ESMTP Service not available "
     "554-No SMTP service 554 IP address is block listed.", "gmx.net", "blocked"),
    ("mx01.mail.icloud.com[17.57.154.6]:25", "a@icloud.com",
     "host mx01.mail.icloud.com said: 554 5.7.1 [HM08] Message rejected due to local policy",
     "icloud.com", "blocked"),
    ("mx1.comcast.net[96.114.157.80]:25", "a@comcast.net",
     "host mx1.comcast.net said: 421 resimta-ch2-09v.sys.comcast.net comcast 192.0.2.25 Comcast "
     "requires that all mail servers must have a PTR record RL000001", "comcast.net",
     "rate-limited"),
    ("mx.example.net[1.2.3.4]:25", "a@example.net",
     "host mx.example.net said: 451 4.3.0 Temporary lookup failure", "example.net", "other"),
    ("mxa.mailgun.org[1.2.3.4]:25", "a@hotmail.fr", "connect to x: Connection timed out",
     "outlook.com", "other"),  # by the recipient's domain, when the relay says nothing
])
def test_more_refusals(relay, recipient, reply, provider, category):
    delivery = postfixlog.Delivery(0, "Q", recipient, relay, "4.0.0", "deferred", reply)
    refusal = refusals.classify(delivery, refusals.load())
    assert (refusal.provider, refusal.category) == (provider, category)


def test_our_address_is_the_one_the_receiver_names():
    relay, dsn, said = REPLIES["outlook-banned"]
    delivery = postfixlog.Delivery(0, "Q", "a@hotmail.com", relay, dsn, "deferred",
                                   f"host {relay} said: " + said.format(ip="192.0.2.25"))
    assert refusals.our_addresses(delivery) == ["192.0.2.25"]


@pytest.mark.parametrize("reply, named", [
    ("host mta5.am0.yahoodns.net[67.195.204.72] said: 421 4.7.0 [TSS04] Messages from "
     "192.0.2.25 temporarily deferred - 4.16.55.1; see https://postmaster.yahooinc.com/",
     ["192.0.2.25"]),  # not the error reference 4.16.55.1
    ("host gmail-smtp-in.l.google.com[2a00:1450:400c:c0b::1b] said: 550-5.7.1 "
     "[2001:db8::25      12] Our system has detected that this message does not meet IPv6 "
     "sending guidelines", ["2001:db8::25"]),
    ("host mx.example.org[198.51.100.1] said: 554 5.7.1 Service unavailable; Client host "
     "[192.0.2.25] blocked using zen.spamhaus.org", ["192.0.2.25"]),
    ("host mx.example.org[198.51.100.1] said: 550 5.7.1 rejected by policy 1.2.3.4", []),
    ("host mx.example.org[198.51.100.1] said: 421 4.7.0 [198.51.100.1] busy", []),
])
def test_the_addresses_a_reply_names(reply, named):
    delivery = postfixlog.Delivery(0, "Q", "a@example.org", reply.split(" ")[1] + ":25",
                                   "5.7.1", "bounced", reply)
    assert refusals.our_addresses(delivery) == named


def test_a_bad_signature_file_is_named(tmp_path):
    path = tmp_path / "sig.ini"
    for text, message in (("[rule x]\ncategory = nope\nmatch = a\n", "'nope' is not a valid"),
                          ("[rule x]\ncategory = other\nmatch = (\n", r"missing \), unterminated"),
                          ("[rule x]\nprovider = ghost\ncategory = other\nmatch = a\n",
                           "no provider ghost"),
                          ("[what]\n", r"is neither \[provider NAME\] nor \[rule NAME\]")):
        path.write_text(text)
        with pytest.raises(refusals.SignatureError, match=message):
            refusals.load(str(path))
