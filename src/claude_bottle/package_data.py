"""Every file the package reads from its own installation, named in one place,
and the one reader for them.

A file added under `data/` that is not named in FILES fails a unit test
(tests/unit/test_package_data.py), as does a name here that the built wheel or
sdist lacks: an installation that cannot start a bottle is caught before it is
published, not by its first user. An installation that lost a file anyway (a
broken copy, a packager's mistake) is one line, never a traceback."""

from __future__ import annotations

from claude_bottle.errors import ClaudeBottleError

DISTRIBUTION = "claude-bottle"

AGENT_DOCKERFILE = "data/Dockerfile"
SQUID_DOCKERFILE = "data/squid/Dockerfile"
SQUID_ENTRYPOINT = "data/squid/entrypoint.sh"
# Vendored, with its licence (public_suffix.py reads it).
PUBLIC_SUFFIX_LIST = "data/publicsuffix/public_suffix_list.dat"
PUBLIC_SUFFIX_LICENSE = "data/publicsuffix/LICENSE-MPL-2.0"

FILES = (AGENT_DOCKERFILE, SQUID_DOCKERFILE, SQUID_ENTRYPOINT, PUBLIC_SUFFIX_LIST, PUBLIC_SUFFIX_LICENSE)


class IncompleteInstallation(ClaudeBottleError):
    """A file the package ships is missing or unreadable where it is installed."""


def read(name: str) -> bytes:
    """The content of one of FILES, from wherever the package is installed."""
    if name not in FILES:  # a programming error: every file read is named above
        raise ValueError(f"{name} is not among the package's data files")
    from importlib import resources  # only when a file is read: it costs every start otherwise

    where = resources.files("claude_bottle").joinpath(name)
    try:
        return where.read_bytes()
    except FileNotFoundError:
        problem = "is missing"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or exc})"
    raise IncompleteInstallation(
        f"this installation is incomplete: {where} {problem}; reinstall claude-bottle"
    )


def version() -> str:
    """The installed distribution's version (the one source: pyproject.toml's)."""
    # Imported here: importlib.metadata costs every start about 30 ms, and only
    # --version and a few commands ask.
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
        return "0+unknown"
