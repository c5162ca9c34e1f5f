"""`.claude-bottle-ignore`: gitignore-style patterns for what --cwd leaves behind (pure).

Supported: comments (#), blank lines, `!` to re-include, a trailing `/` for
folders only, a leading or inner `/` to anchor at the folder's top, `*`, `?`,
`[...]` and `**`, and a backslash that makes the next character literal
(`\\#`, `\\!`, a trailing `\\ `). The last matching pattern wins, as in git;
tests/unit/workspace/test_ignore.py compares the result with `git check-ignore`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IGNORE_FILE = ".claude-bottle-ignore"


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool
    anchored: bool


def _translate(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "\\" and i + 1 < len(glob):  # the next character is literal
            out.append(re.escape(glob[i + 1]))
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                out.append("[" + glob[i + 1 : end].replace("!", "^", 1) + "]")
                i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def _trim_trailing_spaces(line: str) -> str:
    """Trailing spaces go, unless the last one is escaped (`foo\\ `), as in git."""
    end = len(line)
    while end > 0 and line[end - 1] == " " and not line[:end].endswith("\\ "):
        end -= 1
    return line[:end]


def parse_rules(text: str) -> tuple[Rule, ...]:
    rules = []
    for raw in text.splitlines():
        line = _trim_trailing_spaces(raw)
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if not line:
            continue
        rules.append(Rule(re.compile(f"^{_translate(line)}$"), negate, dir_only, anchored))
    return tuple(rules)


def _matches(rule: Rule, path: str, is_dir: bool) -> bool:
    if rule.dir_only and not is_dir:
        return False
    target = path if rule.anchored else path.rsplit("/", 1)[-1]
    return bool(rule.regex.match(target))


def is_ignored(rules: tuple[Rule, ...], path: str, is_dir: bool = False) -> bool:
    """Whether `path` (relative, '/'-separated) or one of its folders is ignored."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        prefix_is_dir = is_dir or depth < len(parts)
        ignored = False
        for rule in rules:
            if _matches(rule, prefix, prefix_is_dir):
                ignored = not rule.negate
        if ignored:
            return True
    return False
