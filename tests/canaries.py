"""A search for secret values inside a bottle, run by the bottle's own shell
(tests of issue 22 on Docker and Kubernetes): every file but /proc, /sys and
/dev, every process's environment and command line, git's configuration and
~/.ssh. Its control finds a value planted for it, so a search that cannot
find anything fails the test."""

from __future__ import annotations


def plant(values: list[str]) -> str:
    """Shell that writes each value as a line of /tmp/canaries, from two halves:
    no command line in the bottle ever holds a whole value (the search would
    find itself)."""
    parts = [(v[: len(v) // 2], v[len(v) // 2 :]) for v in values]
    return "".join(f"printf '%s%s\\n' '{a}' '{b}' >> /tmp/canaries; " for a, b in parts)


# Prints `found=[...]` (the places holding a value) and `control=/tmp/seeded`.
SEARCH = (
    "found=$( { grep -rlsF -f /tmp/canaries / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev; "
    "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do grep -qsaF -f /tmp/canaries $f && echo $f; done; "
    "git config --list --show-origin | grep -F -f /tmp/canaries; "
    "cat ~/.ssh/* 2>/dev/null | grep -F -f /tmp/canaries; } | grep -v '^/tmp/canaries$'); "
    'echo "found=[$found]"; '
    "echo seeded-$$-canary > /tmp/seeded; echo seeded-$$-canary >> /tmp/canaries; "
    "grep -rlsF -f /tmp/canaries /tmp --exclude=canaries | sed 's/^/control=/'; "
)


def search(values: list[str]) -> str:
    return plant(values) + SEARCH
