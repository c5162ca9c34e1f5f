"""Secret-shaped tokens, in one place: the Squid sidecar refuses them in
plain-HTTP URLs and credential headers (its DLP rules), and the CLI never prints
or stores them where they turn up elsewhere (a refused host name such as
`ghp_<36 characters>.github.com` in the summary, egress.jsonl and `egress`; a
literal shown by `trust`).

The patterns are POSIX extended regular expressions, which Squid reads, written
so that Python's `re` reads them the same way (tests/unit/test_secret_shapes.py).
"""

from __future__ import annotations

import re

SECRET_PATTERNS = (
    "sk-ant-[A-Za-z0-9_-]{20,}",  # Anthropic
    "AKIA[0-9A-Z]{16}",  # AWS access key id
    "gh[pousr]_[A-Za-z0-9]{36}",  # GitHub tokens
    "github_pat_[A-Za-z0-9_]{22,}",
    "glpat-[A-Za-z0-9_-]{20,}",  # GitLab
    "xox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
    "AIza[0-9A-Za-z_-]{35}",  # Google API key
    "sk_live_[0-9A-Za-z]{24,}",  # Stripe
)
_ANY = re.compile("|".join(f"(?:{p})" for p in SECRET_PATTERNS))
REDACTED = "<redacted>"


def redact_secrets(text: str) -> str:
    """`text` with every secret-shaped token replaced by <redacted> (pure)."""
    return _ANY.sub(REDACTED, text)


def holds_secret(text: str) -> bool:
    return _ANY.search(text) is not None
