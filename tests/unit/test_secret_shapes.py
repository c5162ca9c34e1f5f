"""Secret-shaped tokens have one source (secret_shapes.py): the Squid sidecar's DLP
rules refuse them, and a host name holding one is redacted wherever the CLI shows
or stores a request: the summary, egress.jsonl, `sessions` and `egress`."""

from __future__ import annotations

import json
import re

import pytest

from claude_bottle.proxies.base import ProxySpec
from claude_bottle.proxies.events import event_line, events_jsonl, render_report, summarize
from claude_bottle.proxies.squid import read_squid_log, render_squid_config
from claude_bottle.secret_shapes import SECRET_PATTERNS, holds_secret, redact_secrets

TOKEN = "ghp_" + "A1b2" * 9  # the shape of a GitHub token: 36 characters after ghp_
SHAPES = [
    "sk-ant-" + "x" * 30,
    "AKIA" + "A" * 16,
    TOKEN,
    "github_pat_" + "a" * 30,
    "glpat-" + "b" * 20,
    "xoxb-" + "1" * 12,
    "AIza" + "c" * 35,
    "sk_live_" + "d" * 24,
]  # fmt: skip  (SECRET_PATTERNS' order)


def test_the_proxy_and_the_cli_read_the_same_patterns() -> None:
    config = render_squid_config(ProxySpec(allow=("a.test",)))
    assert f"acl dlp_url url_regex {' '.join(SECRET_PATTERNS)}\n" in config  # the sidecar's DLP rules
    assert len(SHAPES) == len(SECRET_PATTERNS)
    for pattern, shape in zip(SECRET_PATTERNS, SHAPES, strict=True):
        assert re.fullmatch(pattern, shape), pattern  # Python reads each as Squid's POSIX ERE does


@pytest.mark.parametrize("shape", SHAPES)
def test_a_secret_shaped_token_is_redacted_and_its_surroundings_kept(shape: str) -> None:
    assert redact_secrets(f"{shape}.github.com") == "<redacted>.github.com"
    assert holds_secret(shape)
    assert not holds_secret("api.github.com")
    assert redact_secrets("allowed.test") == "allowed.test"


def test_a_refused_host_holding_a_secret_is_never_shown_or_stored() -> None:
    # Issue 20: a host refused by the wall (a token sent out in a DNS name) was
    # printed in the summary and stored in egress.jsonl verbatim.
    log = "\n".join(
        json.dumps({"ts": 1795848049.5 + i, "method": method, "host": host, "port": port, "status": 403,
                    "result": "TCP_DENIED", "server": "-", "reason": "host_not_allowed", "warning": "-",
                    "sni": "-"})
        for i, (method, host, port) in enumerate([("CONNECT", f"{TOKEN}.github.com", "443"),
                                                  ("GET", f"x.{TOKEN}.blocked.test", "80"),
                                                  ("CONNECT", "blocked.test", "443")])
    )  # fmt: skip
    events = read_squid_log(log)
    shown = "\n".join(
        [*render_report(summarize(events)), events_jsonl(events), *(event_line(e) for e in events),
         *(e.to_json() for e in events), *summarize(events).refused_hosts]
    )  # fmt: skip
    assert TOKEN not in shown
    assert "<redacted>.github.com" in shown
    assert "x.<redacted>.blocked.test" in shown
    assert "blocked.test" in shown  # the positive control: an ordinary name is shown as it is
