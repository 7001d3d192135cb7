"""check-mail: every plugin against one mail server and domain, the demo, or the
monitoring definitions.

    check-mail                                  the demo: a simulated mail domain
    check-mail -H HOST -D DOMAIN [-s SELECTOR]  every plugin that applies, for real
                                                (and, on the mail server, its log)
    check-mail demo [--serve]                   the demo, or keep it serving
    check-mail config icinga2|nagios            the definitions, ready to install

Like the plugins, it exits 0 to 3 (the worst state of the plugins it ran),
and 3 for --help, --version and bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable, NoReturn

from check_mail import __version__, report

UNKNOWN = 3
MAIL_LOG = "/var/log/mail.log"  # read by default when it is readable: on the mail server


class Parser(argparse.ArgumentParser):
    """Bad arguments, --help and --version exit 3, as for every plugin of the suite."""

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stdout.write(message)
        sys.exit(UNKNOWN)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stdout)
        sys.stdout.write(f"{self.prog}: error: {message}\n")
        sys.exit(UNKNOWN)

    def print_help(self, file: object = None) -> None:
        super().print_help(sys.stdout)


def as_given(convert: Callable[[str], object]) -> Callable[[str], str]:
    """An option type of the plugins' (check_mail.plugin), checking a value
    here as each plugin would; the text is kept, to be handed on to them."""
    from check_mail import plugin

    check = plugin.option_type(convert)

    def keep(text: str) -> str:
        check(text)
        return text

    keep.__name__ = convert.__name__
    return keep


def parser() -> Parser:
    from check_mail import plugin

    p = Parser(prog="check-mail", description=(__doc__ or "").split("\n\n")[0],
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog=(__doc__ or "").split("\n\n")[1])
    p.add_argument("-V", "--version", action="version", version=f"check-mail {__version__}")
    p.add_argument("-H", "--host", metavar="HOST", type=as_given(plugin.host),
                   help="the mail server (an address or a name; every address is checked)")
    p.add_argument("-D", "--domain", metavar="DOMAIN", type=as_given(plugin.domain),
                   help="the mail domain")
    p.add_argument("-s", "--selector", action="append", default=[], metavar="NAME",
                   help="a DKIM selector of the domain (repeatable); without one, "
                        "check_dkim is skipped")
    p.add_argument("-n", "--nameserver", action="append", default=[], metavar="ADDR[:PORT]",
                   type=as_given(plugin.nameserver),
                   help="the resolver every plugin asks (repeatable)")
    p.add_argument("-p", "--port", metavar="PORT", type=as_given(plugin.port),
                   help="SMTP port (default 25)")
    p.add_argument("--helo", metavar="NAME", type=as_given(plugin.helo),
                   help="the name the SMTP probes say EHLO with")
    p.add_argument("--ca-file", metavar="FILE",
                   help="check_tls also trusts the CA certificates in this PEM file")
    p.add_argument("--mta-sts-port", metavar="PORT", type=as_given(plugin.port),
                   help="check_tls fetches the MTA-STS policy from this port (default 443)")
    p.add_argument("--log", action="append", default=[], metavar="FILE",
                   help=f"check_senders and check_refusals read this Postfix log "
                        f"(repeatable; default {MAIL_LOG} when it is readable)")
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const="-4",
                        help="IPv4 addresses only")
    family.add_argument("-6", dest="family", action="store_const", const="-6",
                        help="IPv6 addresses only")
    p.add_argument("-t", "--timeout", default="20", metavar="SECONDS",
                   type=as_given(plugin.seconds),
                   help="each plugin's -t (default %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="after the table, each plugin's command and whole output")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the states: on a terminal (auto, the default), always, never")
    sub = p.add_subparsers(dest="command", metavar="{demo,config}", parser_class=Parser)
    port = plugin.option_type(plugin.port)
    demo = sub.add_parser("demo", help="the demo against a simulated mail domain")
    demo.add_argument("--serve", action="store_true",
                      help="keep the simulated domain serving (until Ctrl-C) instead")
    demo.add_argument("--dns-port", type=port, default=10053, metavar="PORT",
                      help="with --serve: the nameserver's port (default %(default)s)")
    demo.add_argument("--smtp-port", type=port, default=10025, metavar="PORT",
                      help="with --serve: the SMTP servers' port (default %(default)s)")
    demo.add_argument("--https-port", type=port, default=10443, metavar="PORT",
                      help="with --serve: the MTA-STS policy host's port (default "
                           "%(default)s)")
    demo.add_argument("--files", type=Path, metavar="DIR",
                      help="with --serve: where signed mail and keys go (default "
                           "check-mail-demo in the temporary folder)")
    config = sub.add_parser("config", help="print the Icinga 2 or Nagios definitions")
    config.add_argument("kind", choices=("icinga2", "nagios"))
    config.add_argument("--plugin-dir", metavar="DIR",
                        help="where the plugins are (default: beside this command)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "config":
        from check_mail import definitions

        sys.stdout.write(definitions.render(args.kind, args.plugin_dir or
                                            definitions.plugin_dir()))
        return 0
    if args.command == "demo" and args.serve:
        from check_mail import demo

        return demo.serve(args.dns_port, args.smtp_port, args.files or demo.FILES,
                          args.https_port)
    if args.command == "demo" or not (args.host or args.domain or args.log):
        from check_mail import demo

        return demo.demo()
    return check(args)


def check(args: argparse.Namespace) -> int:
    """Every plugin that applies to the host and the domain, at once, as a table."""
    started = time.monotonic()
    planned = plan(args, sending_ips(args))
    guard = float(args.timeout) + 10  # each plugin ends in its own -t; this is a guard
    done = iter(report.run_all([run.command for run in planned if not run.skipped], guard))
    runs = [run if run.skipped else next(done) for run in planned]
    colour = report.use_colour(args.color)
    target = " and ".join(x for x in (args.host, args.domain) if x) or "the mail log"
    print(f"check-mail: {target} ({len(runs)} plugins, {time.monotonic() - started:.1f} s)")
    for line in report.table(runs, colour):
        print(line)
    code = report.worst(runs)
    print(report.paint(f"overall: {report.STATES[code]}", report.STATES[code], colour))
    if args.verbose:
        for run in runs:
            if run.code is not None:
                print(f"\n{report.shell_line(run.command)}\n{run.output.rstrip()}")
    return code


def plan(args: argparse.Namespace, ips: list[str]) -> list[report.PluginRun]:
    """Each plugin that applies, with its command line (only the options it
    understands); one that does not apply, with the reason it is skipped."""
    host, domain = args.host, args.domain
    commands = [["check_rbl", *(["-H", host] if host else []),
                 *(["-D", domain] if domain else [])]] if host or domain else []
    skipped = []
    if host:
        commands.append(["check_ptr", "-H", host, "--smtp"])
        commands.append(["check_relay", "-H", host])
        if not domain:  # with a domain, check_tls asks every MX
            commands.append(["check_tls", "-H", host])
    if domain:
        commands.append(["check_postmaster", "-D", domain])
        commands.append(["check_spf", "-D", domain,
                         *(arg for ip in ips for arg in ("--ip", ip))])
        commands.append(["check_dmarc", "-D", domain])
        commands.append(["check_tls", "-D", domain])
        if args.selector:
            commands.append(["check_dkim", "-D", domain,
                             *(arg for s in args.selector for arg in ("-s", s))])
        else:
            skipped.append(report.PluginRun(
                ["check_dkim"], skipped="no selector: give -s SELECTOR to check DKIM keys"))
    logs = args.log or ([MAIL_LOG] if os.access(MAIL_LOG, os.R_OK) else [])
    for plugin in ("check_senders", "check_refusals"):
        if logs:  # the whole window each time: the monitoring's state files are its own
            commands.append([plugin, *(arg for log in logs for arg in ("--log", log)),
                             "--no-state"])
        else:
            skipped.append(report.PluginRun([plugin], skipped=f"no mail log: {MAIL_LOG} is not "
                                                              f"readable here; give --log FILE"))
    common = [*(arg for ns in args.nameserver for arg in ("-n", ns)), "-t", args.timeout,
              *(["-p", args.port] if args.port else []),
              *(["--helo", args.helo] if args.helo else []),
              *(["--ca-file", args.ca_file] if args.ca_file else []),
              *(["--mta-sts-port", args.mta_sts_port] if args.mta_sts_port else []),
              *([args.family] if args.family else [])]
    return [report.PluginRun(command + understood(command[0], common))
            for command in commands] + skipped


def understood(plugin: str, options: list[str]) -> list[str]:
    """The options (each with its value) that the plugin takes."""
    import importlib

    check = importlib.import_module(f"check_mail.checks.{plugin.removeprefix('check_')}")
    known = {s for action in check.parser()._actions for s in action.option_strings}
    out, i = [], 0
    while i < len(options):
        flag = options[i]
        takes_value = flag not in ("-4", "-6")
        if flag in known:
            out += options[i:i + 2] if takes_value else [flag]
        i += 2 if takes_value else 1
    return out


def sending_ips(args: argparse.Namespace) -> list[str]:
    """The addresses of -H, for check_spf --ip: the host itself when it is an
    address, else every A and AAAA found through the same resolver the
    plugins ask. A name that does not resolve gives none (check_rbl and
    check_ptr say why)."""
    from check_mail.dns import is_address, parse_nameserver

    if not args.host or not args.domain:
        return []
    if is_address(args.host):
        return [args.host]
    from check_mail.deadline import Deadline
    from check_mail.dns import Resolver

    try:
        nameservers = [parse_nameserver(ns) for ns in args.nameserver]
    except ValueError:
        return []  # the plugins word the bad -n themselves
    family = {"-4": 4, "-6": 6}.get(args.family or "")
    resolver = Resolver(nameservers or None, deadline=Deadline(5.0))
    return list(resolver.addresses(args.host, family).addresses)


if __name__ == "__main__":
    sys.exit(main())
