"""The README and docs/ hold together: every relative link names a file of the
repository, every `#anchor` a heading of the file it points into (GitHub's
slugs), and the user's pages speak of no issue numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
INLINE = re.compile(r"\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped except
    '-' and '_', each space a '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def prose(text: str) -> str:
    """The text without code blocks and code spans, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for match in HEADING.finditer(FENCE.sub("", text)):
        base = slug(match.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(text: str) -> list[str]:
    body = prose(text)
    return INLINE.findall(body) + REFERENCE.findall(body)


def broken(page: Path, root: Path = ROOT) -> list[str]:
    """What in `page` does not resolve: a file that is not there (or is outside
    `root`), or an anchor that is no heading of its file."""
    problems = []
    for target in links(page.read_text()):
        if EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page.resolve()
        if not resolved.is_relative_to(root.resolve()):
            problems.append(f"{target}: outside the repository")
            continue
        if not resolved.exists():
            problems.append(f"{target}: no such file")
            continue
        if anchor and (resolved.is_dir() or anchor not in anchors(resolved.read_text())):
            problems.append(f"{target}: no heading #{anchor} in {resolved.relative_to(root.resolve())}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken(page) == []


def test_the_readme_links_into_every_docs_page() -> None:
    linked = {t.partition("#")[0] for t in links((ROOT / "README.md").read_text())}
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_speaks_of_issue_numbers(page: Path) -> None:
    assert re.findall(r"\bissues? \d+", page.read_text(), re.IGNORECASE) == []


def test_slugs_follow_githubs_rules() -> None:
    assert slug("Trust: a manifest is used only once you trusted it") == (
        "trust-a-manifest-is-used-only-once-you-trusted-it"
    )
    assert slug("The manifest: `claude-bottle.json`") == "the-manifest-claude-bottlejson"
    assert slug("`egress.internal` inside the cluster") == "egressinternal-inside-the-cluster"
    assert slug("A session's record") == "a-sessions-record"
    assert slug("Not guaranteed (known limits)") == "not-guaranteed-known-limits"
    assert slug("snake_case and hyphen-ated") == "snake_case-and-hyphen-ated"
    assert anchors("# A\n\n## A\n```sh\n# not a heading\n```\n## A\n") == {"a", "a-1", "a-2"}


def test_the_check_finds_what_is_broken(tmp_path: Path) -> None:
    """The checker can fail: each kind of broken link beside one that resolves."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n\n## A part: `x.y`\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/there.md) [ok](docs/there.md#a-part-xy) [ok](#top) [web](https://example.invalid/x)\n"
        "`[code](missing.md)` and\n```\n[block](missing.md)\n```\n"
        "[gone](docs/missing.md) [bad anchor](docs/there.md#a-part)\n"
        "[split across\nlines](#nowhere) [out](../elsewhere/README.md)\n\n# Top\n"
    )
    assert broken(page, tmp_path) == [
        "docs/missing.md: no such file",
        "docs/there.md#a-part: no heading #a-part in docs/there.md",
        "#nowhere: no heading #nowhere in README.md",
        "../elsewhere/README.md: outside the repository",
    ]
