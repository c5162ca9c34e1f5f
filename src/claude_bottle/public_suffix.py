"""The Public Suffix List: which names anyone can register under.

An allowlist entry `*.co.uk` or `*.github.io` would let the agent reach every
site of every stranger under that suffix, so a wildcard on a public suffix, or
over one (`*.amazonaws.com` covers every bucket under `s3.amazonaws.com`), is
refused (hostnames.py). The list is vendored in the package (data/publicsuffix/,
Mozilla Public License 2.0, its licence beside it; its VERSION line says which
snapshot), both its ICANN and its private section: a suffix where strangers
host their own sites (github.io, s3.amazonaws.com) is as open as a TLD.

Matching follows the list's own algorithm (publicsuffix.org/list/): an
exception rule prevails, else the matching rule with the most labels, else the
implicit rule `*` (every top-level name). Rules are compared in their ASCII
(IDNA) form, as manifest entries are ASCII."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from claude_bottle import package_data


@dataclass(frozen=True)
class Rules:
    exact: frozenset[str]
    wildcard: frozenset[str]  # X for a rule *.X
    exception: frozenset[str]  # name for a rule !name

    def public_suffix_of(self, name: str) -> str:
        """The public suffix of `name` by the list's algorithm: an exception rule
        prevails (the suffix is the rule less its first label), else the
        matching rule with the most labels, else the implicit `*`."""
        labels = name.lower().strip(".").split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self.exception:
                return ".".join(labels[i + 1 :])
            parent = ".".join(labels[i + 1 :])
            if candidate in self.exact or (parent and parent in self.wildcard):
                return candidate
        return labels[-1]

    def is_public_suffix(self, name: str) -> bool:
        name = name.lower().strip(".")
        return bool(name) and self.public_suffix_of(name) == name

    @functools.cached_property
    def _below(self) -> dict[str, str]:
        """Every proper ancestor of a rule's name, with one suffix beneath it."""
        found: dict[str, str] = {}
        for rule in sorted(self.exact | {f"*.{w}" for w in self.wildcard}):
            parts = rule.split(".")
            for i in range(1, len(parts)):
                found.setdefault(".".join(parts[i:]), rule)
        return found

    def suffix_under(self, name: str) -> str | None:
        """A public suffix at or under `name` (what a wildcard `*.name` would
        open to strangers), or None."""
        name = name.lower().strip(".")
        if self.is_public_suffix(name):
            return name
        return self._below.get(name)


def _ascii(rule: str) -> str | None:
    try:
        return ".".join(label if label == "*" else label.encode("idna").decode() for label in rule.split("."))
    except UnicodeError:
        return None


def parse_rules(text: str) -> Rules:
    exact: set[str] = set()
    wildcard: set[str] = set()
    exception: set[str] = set()
    for line in text.splitlines():
        word = line.strip().split(" ")[0]
        if not word or word.startswith("//"):
            continue
        rule = _ascii(word.lstrip("!").lower())
        if rule is None:
            continue
        if word.startswith("!"):
            exception.add(rule)
        elif rule.startswith("*."):
            wildcard.add(rule[2:])
        else:
            exact.add(rule)
    return Rules(frozenset(exact), frozenset(wildcard), frozenset(exception))


@functools.cache
def rules() -> Rules:
    """The vendored list, read once, only when a wildcard needs checking."""
    return parse_rules(package_data.read(package_data.PUBLIC_SUFFIX_LIST).decode("utf-8"))


def suffix_under(name: str) -> str | None:
    return rules().suffix_under(name)
