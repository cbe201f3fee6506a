"""Alertmanager matcher syntax as receiver.matchers parses and applies it."""

from __future__ import annotations

import pytest

from receiver.matchers import matches_all, parse_matcher


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical"', {"severity": "warning"}, False),
        ('severity!="critical"', {"severity": "warning"}, True),
        ('severity!="critical"', {"severity": "critical"}, False),
        ('namespace=~"prod-.*"', {"namespace": "prod-eu"}, True),
        ('namespace=~"prod-.*"', {"namespace": "staging"}, False),
        ('namespace!~"prod-.*"', {"namespace": "staging"}, True),
        ('namespace!~"prod-.*"', {"namespace": "prod-eu"}, False),
    ],
)
def test_each_operator_matches_and_rejects(text: str, labels: dict[str, str], expected: bool) -> None:
    """=, !=, =~ and !~ each accept the right value and refuse the wrong one."""
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ('alertname=~"Node"', "NodeDown", False),
        ('alertname=~"Down"', "NodeDown", False),
        ('alertname=~"Node.*"', "NodeDown", True),
        ('alertname=~"NodeDown|HostDown"', "HostDown", True),
        ('alertname=~"NodeDown|HostDown"', "XHostDown", False),
        ('alertname=~"NodeDown|HostDown"', "NodeDownX", False),
        ('alertname!~"Node"', "NodeDown", True),
    ],
)
def test_regexes_are_anchored_at_both_ends(text: str, value: str, expected: bool) -> None:
    """A regex must match the whole value, alternations included, as in Alertmanager."""
    assert parse_matcher(text).matches({"alertname": value}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('team=""', True),
        ('team!="ops"', True),
        ('team="ops"', False),
        ('team=~".*"', True),
        ('team=~".+"', False),
        ('team!~".+"', True),
    ],
)
def test_missing_label_matches_as_empty_string(text: str, expected: bool) -> None:
    """An alert without the label is matched as if the label were ""."""
    assert parse_matcher(text).matches({"alertname": "X"}) is expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'quoted="say \"hi\" & <bye>"', 'say "hi" & <bye>'),
        (r'path="C:\\temp"', "C:\\temp"),
        (r'text="line\nbreak\ttab"', "line\nbreak\ttab"),
        ('site="東京-1"', "東京-1"),
        ('owner="Zoë Ångström"', "Zoë Ångström"),
        ('list="a,b c"', "a,b c"),
        ("bare=value", "value"),
        ('  spaced  =  "v"  ', "v"),
    ],
)
def test_quoted_values_unescape(text: str, value: str) -> None:
    """Quoted values take \\" \\\\ \\n \\t escapes and any UTF-8; bare values need no quotes."""
    matcher = parse_matcher(text)
    assert matcher.value == value
    assert matcher.matches({matcher.name: value})


@pytest.mark.parametrize(
    "text",
    [r'quoted="say \"hi\""', r'path="C:\\temp"', 'namespace=~"prod-.*"', 'team!=""'],
)
def test_str_round_trips(text: str) -> None:
    """str(matcher) is a matcher text that parses back to the same matcher."""
    matcher = parse_matcher(text)
    again = parse_matcher(str(matcher))
    assert (again.name, again.op, again.value) == (matcher.name, matcher.op, matcher.value)


@pytest.mark.parametrize(
    "text",
    ["", "alertname", "=value", '1abc="x"', 'a.b="x"', 'a=="x"', 'a="unterminated', "a=b c", 'a~"x"'],
)
def test_bad_matcher_raises_value_error(text: str) -> None:
    """Text that is not name, operator, value is refused with ValueError."""
    with pytest.raises(ValueError, match="not a matcher"):
        parse_matcher(text)


@pytest.mark.parametrize("text", ['a=~"("', 'a!~"[z-a]"', 'a=~"*x"'])
def test_bad_regex_raises_value_error(text: str) -> None:
    """A regex operator with an invalid pattern is refused when parsed, not when used."""
    with pytest.raises(ValueError, match="bad regex"):
        parse_matcher(text)


def test_matches_all_needs_every_matcher() -> None:
    """matches_all is a conjunction; no matchers match everything."""
    matchers = [parse_matcher('alertname="NodeDown"'), parse_matcher('env=~"prod|staging"')]
    assert matches_all(matchers, {"alertname": "NodeDown", "env": "prod"})
    assert not matches_all(matchers, {"alertname": "NodeDown", "env": "dev"})
    assert not matches_all(matchers, {"env": "prod"})
    assert matches_all([], {})
