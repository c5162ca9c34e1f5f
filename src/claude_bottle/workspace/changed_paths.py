"""How many paths a change between two git trees touches, counted over the tree
objects, never by listing the paths (pure, given a way to read objects).

A tree bomb names one subtree ten times in a tree, and that tree ten times in
the next, nine levels deep: 10^9 paths from ten small objects, and it passes
fsck. git lists every one of them before printing anything (`log --stat`,
`diff-tree`), so a limit cannot be kept by reading its output. Here each pair of
trees is compared once, and a subtree met again costs nothing more: a bomb's
count is known after reading each of its few objects once.
"""

from __future__ import annotations

from collections.abc import Callable

TREE_MODE = b"40000"


class TooManyPaths(Exception):
    """The count passed the limit (raised as soon as it does)."""


Entry = tuple[bool, bytes]  # (is a tree, object id)


def parse_tree(content: bytes, id_size: int) -> dict[bytes, Entry]:
    """A tree object's entries by name: `MODE NAME\\0ID` each, ID `id_size` raw bytes."""
    entries: dict[bytes, Entry] = {}
    at = 0
    while at < len(content):
        space = content.index(b" ", at)
        nul = content.index(b"\0", space)
        end = nul + 1 + id_size
        entries[content[space + 1 : nul]] = (content[at:space] == TREE_MODE, content[nul + 1 : end])
        at = end
    return entries


class PathCounter:
    """Counts paths changed between trees, in total over every `count` call,
    raising TooManyPaths once the total passes `limit`. `read(oid)` gives an
    object's type and content ("missing" when the repository lacks it)."""

    def __init__(self, read: Callable[[str], tuple[str, bytes]], limit: int) -> None:
        self.read = read
        self.limit = limit
        self.total = 0
        self._pairs: dict[tuple[str, str], int] = {}
        self._trees: dict[str, dict[bytes, Entry]] = {}

    def tree_of(self, commit: str) -> str:
        """The tree a commit names ("" for no commit, or one not there)."""
        if not commit:
            return ""
        kind, content = self.read(commit)
        if kind != "commit" or not content.startswith(b"tree "):
            return ""
        return content[5 : content.index(b"\n")].decode()

    def entries(self, tree: str) -> dict[bytes, Entry]:
        if not tree:
            return {}
        if tree not in self._trees:
            kind, content = self.read(tree)
            self._trees[tree] = parse_tree(content, len(tree) // 2) if kind == "tree" else {}
        return self._trees[tree]

    def count(self, old: str, new: str) -> int:
        """Paths added, removed or changed from tree `old` to tree `new` ("" is
        empty), each pair of trees counted once; added to the total."""
        return self._changed(old, new)

    def _add(self, n: int) -> None:
        self.total += n
        if self.total > self.limit:
            raise TooManyPaths

    def _changed(self, old: str, new: str) -> int:
        if old == new:
            return 0
        known = self._pairs.get((old, new))
        if known is not None:
            self._add(known)  # met again: its paths count again, without reading anything
            return known
        before, after = self.entries(old), self.entries(new)
        changed = 0
        for name in before.keys() | after.keys():
            was, now = before.get(name), after.get(name)
            if was == now:
                continue
            if (was is not None and not was[0]) or (now is not None and not now[0]):
                changed += 1  # a file (or link, or submodule) gone, come or changed
                self._add(1)
            old_tree = was[1].hex() if was is not None and was[0] else ""
            new_tree = now[1].hex() if now is not None and now[0] else ""
            if old_tree or new_tree:
                changed += self._changed(old_tree, new_tree)
        self._pairs[(old, new)] = changed
        return changed
