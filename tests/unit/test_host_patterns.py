"""Why an allowlist entry is refused, word for word (pure): the message is what
a user reads in the manifest error, so each case names the one thing wrong."""

from __future__ import annotations

import pytest

from claude_bottle.hostnames import host_of_url, host_pattern_problem

LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        pytest.param(" ", "an empty host name", id="empty"),
        pytest.param(" a.test", "surrounding spaces", id="spaces"),
        pytest.param("https://a.test", "a URL scheme (write only the host name)", id="scheme"),
        pytest.param("a.test/x", "a path (write only the host name)", id="path"),
        pytest.param(
            "a.test:443",
            "a port (ports are not part of an entry: 443 for HTTPS; ssh ports from ssh entries)",
            id="port",
        ),
        pytest.param("*", "a bare '*' (that would allow every host)", id="bare-star"),
        pytest.param("a.*.test", "a '*' other than a leading '*.'", id="inner-star"),
        pytest.param("a..test", "characters or labels that cannot form a host name", id="empty-label"),
        pytest.param(LONGEST + "e", "characters or labels that cannot form a host name", id="254-characters"),
        pytest.param(
            "*.com",
            "a wildcard on the public suffix 'com' (anyone can register names under it; "
            "list the exact hosts instead)",
            id="on-a-suffix",
        ),
        pytest.param(
            "*.s3.amazonaws.com",
            "a wildcard on the public suffix 's3.amazonaws.com' (anyone can register"
            " names under it; list the exact hosts instead)",
            id="on-a-private-suffix",
        ),
        pytest.param(
            "*.Co.UK",
            "a wildcard on the public suffix 'co.uk' (anyone can register names under it; "
            "list the exact hosts instead)",
            id="on-a-suffix-in-capitals",
        ),
        pytest.param(
            "*.AmazonAWS.com",
            "a wildcard over the public suffix '*.af-south-1.airflow.amazonaws.com' "
            "(anyone can register names under it; list the exact hosts instead)",
            id="over-a-suffix",
        ),
    ],
)
def test_each_refusal_names_what_is_wrong(entry: str, problem: str) -> None:
    assert host_pattern_problem(entry) == problem


@pytest.mark.parametrize("entry", [LONGEST, "*." + LONGEST[2:], "a-b.test", "*.corp.test"])
def test_entries_up_to_the_longest_name_are_accepted(entry: str) -> None:
    assert host_pattern_problem(entry) is None


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://A.Test./path", "a.test"),
        ("http://user@a.test:8080/", "a.test"),
        ("file:///etc/passwd", None),
        ("https://[::1", None),
    ],
)
def test_the_host_of_a_url(url: str, host: str | None) -> None:
    assert host_of_url(url) == host
