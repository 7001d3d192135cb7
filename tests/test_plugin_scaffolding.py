"""The shared scaffolding, in process: exit codes, failure lines, perfdata numbers."""

from __future__ import annotations

import pytest

from check_mail import plugin


def parser() -> plugin.Parser:
    p = plugin.Parser("DEMO", "check_demo", "a demo plugin")
    p.add_thresholds("the value", warning="5", critical="10")
    return p


def run(build, *argv: str) -> int:
    return plugin.run(parser(), build, list(argv))


class Value(plugin.Resource):
    def __init__(self, value):
        self.value = value

    def probe(self):
        return [plugin.Metric("value", self.value, min=0, context="value"),
                plugin.Metric("time", 0.00001, "s", min=0, context="time")]


def value_check(value):
    def build(args, deadline):
        return plugin.Check(Value(value),
                                  plugin.Threshold("value", args.warning, args.critical),
                                  plugin.Measure("time"))
    return build


def test_ok_line_and_perfdata_without_exponents(capsys):
    assert run(value_check(3)) == 0
    assert capsys.readouterr().out == (
        "DEMO OK - value is 3 | time=0.00001s;;;0 value=3;5;10;0\n")


def test_thresholds(capsys):
    assert run(value_check(7)) == 1
    assert run(value_check(11)) == 2
    assert run(value_check(11), "-c", "~:20") == 1


def test_a_crash_is_one_unknown_line(capsys):
    def build(args, deadline):
        raise KeyError("zone")

    assert run(build) == 3
    assert capsys.readouterr().out == (
        "DEMO UNKNOWN - internal error: KeyError: 'zone' (-vvv shows the traceback)\n")


def test_the_traceback_shows_only_at_vvv(capsys):
    def build(args, deadline):
        raise RuntimeError("boom\nsecond line")

    assert run(build, "-vv") == 3
    assert capsys.readouterr().out.count("\n") == 1
    assert run(build, "-vvv") == 3
    out = capsys.readouterr().out
    assert out.startswith("DEMO UNKNOWN - internal error: RuntimeError: boom second line\n")
    assert "Traceback (most recent call last)" in out


def test_a_crash_inside_the_probe_is_caught_too(capsys):
    class Broken(plugin.Resource):
        def probe(self):
            raise ValueError("bad data")

    assert run(lambda args, deadline: plugin.Check(Broken(args, deadline))) == 3
    assert capsys.readouterr().out == (
        "DEMO UNKNOWN - internal error: ValueError: bad data (-vvv shows the traceback)\n")


def test_usage_errors(capsys):
    def build(args, deadline):
        raise plugin.UsageError("-H 'x y' is not a hostname")

    assert run(build) == 3
    assert capsys.readouterr().out == "DEMO UNKNOWN - -H 'x y' is not a hostname\n"


def test_the_backstop_fires_if_something_blocks(capsys):
    def build(args, deadline):
        import time

        time.sleep(5)

    assert run(build, "-t", "0.3") == 3
    assert capsys.readouterr().out == "DEMO UNKNOWN - plugin timed out after 0.3 s\n"


def test_deadline_keeps_time_back_for_the_output():
    seen = {}

    def build(args, deadline):
        seen["seconds"] = deadline.seconds
        raise plugin.UsageError("stop")

    run(build, "-t", "10")
    assert seen["seconds"] == 9.5
    run(build, "-t", "1")
    assert seen["seconds"] == 0.75


@pytest.mark.parametrize(("argv", "out"), [
    (["--help"], "usage: check_demo"),
    (["--version"], "check_demo (check-mail) "),
    (["--nonsense"], "DEMO UNKNOWN - unrecognized arguments: --nonsense\nusage:"),
])
def test_help_version_and_bad_arguments_exit_3(capsys, argv, out):
    assert run(value_check(1), *argv) == 3
    assert capsys.readouterr().out.startswith(out)


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (12, "12"), (0.5, "0.5"), (1e-05, "0.00001"), (1e-09, "0"), (2.0, "2"),
    (123456789.125, "123456789.125"), (-0.0000001, "0"), (True, "1"),
])
def test_number(value, text):
    assert plugin.number(value) == text


@pytest.mark.parametrize(("text", "seconds", "shown"), [
    ("90", 90, "90s"), ("90s", 90, "90s"), ("15m", 900, "15m"), ("1h", 3600, "1h"),
    ("24h", 86400, "24h"), ("2d", 172800, "2d"), ("1.5h", 5400, "90m"), ("366d", 31622400,
                                                                        "366d"),
])
def test_durations(text, seconds, shown):
    assert plugin.duration(text) == seconds
    assert plugin.duration_text(seconds) == shown


@pytest.mark.parametrize("text", ["", "h", "0", "-1h", "1w", "367d", "1e3", "1 h", "٣h"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="is not a duration such as 90s, 15m, 1h or 7d"):
        plugin.duration(text)
