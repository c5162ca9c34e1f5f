"""The vendored Public Suffix List and its matching, against the list's own
test vectors (tests/unit/data/public_suffix_tests.txt, from the list's
project, public domain), and the allowlist's refusal of wildcards on or over a
public suffix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from claude_bottle import package_data
from claude_bottle.hostnames import host_pattern_problem
from claude_bottle.public_suffix import parse_rules, rules

VECTORS = Path(__file__).parent / "data" / "public_suffix_tests.txt"
CHECK = re.compile(r"^checkPublicSuffix\((null|'[^']*'), (null|'[^']*')\);", re.M)


def _registrable(name: str) -> str | None:
    suffix = rules().public_suffix_of(name)
    if name == suffix:
        return None
    return ".".join(name.split(".")[-(suffix.count(".") + 2) :])


def vectors() -> list[tuple[str, str | None]]:
    found = []
    for raw, want in CHECK.findall(VECTORS.read_text()):
        if raw == "null" or raw.startswith("'."):
            continue  # no input, or a leading dot: not a name an allowlist can hold
        name = raw.strip("'")
        try:
            name = name.encode("idna").decode().lower()
        except UnicodeError:
            continue
        found.append((name, None if want == "null" else want.strip("'").encode("idna").decode().lower()))
    return found


def test_the_vectors_are_read() -> None:
    assert len(vectors()) >= 60


@pytest.mark.parametrize(("name", "registrable"), vectors(), ids=[v[0] for v in vectors()])
def test_the_lists_own_vectors(name: str, registrable: str | None) -> None:
    assert _registrable(name) == registrable


def test_the_list_is_the_vendored_snapshot_with_its_licence() -> None:
    text = package_data.read(package_data.PUBLIC_SUFFIX_LIST).decode()
    assert "// VERSION: " in text
    assert "===BEGIN PRIVATE DOMAINS===" in text
    assert b"Mozilla Public License Version 2.0" in package_data.read(package_data.PUBLIC_SUFFIX_LICENSE)


def test_rules_of_each_kind() -> None:
    r = parse_rules("// comment\ncom\n*.ck\n!www.ck\nfoo.bar baz\n")
    assert r.is_public_suffix("com")
    assert r.is_public_suffix("any.ck")
    assert not r.is_public_suffix("www.ck")
    assert r.is_public_suffix("foo.bar")
    assert not r.is_public_suffix("example.com")
    assert r.is_public_suffix("test")  # the implicit rule *


@pytest.mark.parametrize(
    ("entry", "suffix"),
    [
        pytest.param("*.com", "on the public suffix 'com'", id="tld"),
        pytest.param("*.co.uk", "on the public suffix 'co.uk'", id="second-level"),
        pytest.param("*.github.io", "on the public suffix 'github.io'", id="private-section"),
        pytest.param("*.test", "on the public suffix 'test'", id="unlisted-tld"),
        pytest.param("*.amazonaws.com", "over the public suffix", id="suffixes-beneath"),
    ],
)
def test_a_wildcard_on_or_over_a_public_suffix_is_refused(entry: str, suffix: str) -> None:
    problem = host_pattern_problem(entry)
    assert problem is not None
    assert f"a wildcard {suffix}" in problem
    assert problem.endswith("(anyone can register names under it; list the exact hosts instead)")


@pytest.mark.parametrize("entry", ["*.github.com", "*.anthropic.com", "*.example.com", "*.lab.test", "com"])
def test_ordinary_wildcards_and_exact_names_pass(entry: str) -> None:
    assert host_pattern_problem(entry) is None
