"""`.claude-bottle-ignore` follows gitignore's rules: its answers, compared with
`git check-ignore` on the same patterns and paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from claude_bottle.workspace.ignore import is_ignored, parse_rules

PATTERNS = "\n".join(
    [
        "# a comment",
        "\\#hash",
        "\\!bang",
        "space\\ ",
        "trail   ",
        "*.log",
        "!keep.log",
        "build/",
        "/top.txt",
        "docs/*.md",
        "**/cache",
        "a/**/z",
        "file?.txt",
        "[abc].bin",
        "[!x]y.dat",
        "lit\\*star",
    ]
)
PATHS = [
    "#hash", "!bang", "bang", "space ", "space", "trail", "trail ", "a.log", "keep.log", "sub/a.log",
    "build/x.txt", "build", "src/build/y", "top.txt", "sub/top.txt", "docs/a.md", "docs/sub/a.md",
    "cache", "deep/er/cache/f", "a/z", "a/b/c/z", "file1.txt", "file12.txt", "a.bin", "d.bin", "xy.dat",
    "zy.dat", "lit*star", "litXstar", "# a comment",
]  # fmt: skip


@pytest.fixture(scope="module")
def git_says(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bool]:
    repo: Path = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text(PATTERNS + "\n")
    out = subprocess.run(
        ["git", "-C", str(repo), "check-ignore", "--no-index", "--stdin", "-z", "-v", "-n"],
        input="\0".join(PATHS) + "\0",
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\0")
    # -v -n: source, line, pattern, path for every path; an empty source means "not ignored",
    # a pattern starting with "!" means re-included.
    records = [out[i : i + 4] for i in range(0, len(out) - 1, 4)]
    return {path: bool(source) and not pattern.startswith("!") for source, _, pattern, path in records}


@pytest.mark.parametrize("path", PATHS)
def test_the_same_answer_as_git(path: str, git_says: dict[str, bool]) -> None:
    assert is_ignored(parse_rules(PATTERNS), path) is git_says[path]


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        ("node_modules", True, True),
        ("node_modules/x/y.js", False, True),
        ("src/build/out.o", False, True),
        ("build.txt", False, False),
        ("docs/keep.log", False, False),
        ("a.log", False, True),
        ("top-only.txt", False, True),
        ("sub/top-only.txt", False, False),
    ],
)
def test_ignore_rules(path: str, is_dir: bool, ignored: bool) -> None:
    rules = parse_rules("# deps\nnode_modules/\nbuild/\n*.log\n!docs/keep.log\n/top-only.txt\n")
    assert is_ignored(rules, path, is_dir) is ignored
