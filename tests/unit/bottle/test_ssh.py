"""ssh inside a bottle: the config that tunnels through the sidecar and the known_hosts lines kept (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from claude_bottle.bottle.ssh import matching_known_hosts, ssh_config
from claude_bottle.manifest.model import SshEntry


def test_ssh_config_tunnels_through_the_sidecar() -> None:
    text = ssh_config((SshEntry("gh", hostname="github.com", user="git", port=22, identity_file="~/.ssh/k"),),
                      "egress-proxy", 8888)  # fmt: skip
    assert (
        "Host gh\n  HostName github.com\n  User git\n  Port 22\n  IdentityFile ~/.ssh/id_bottle_0_k" in text
    )
    assert "ProxyCommand nc -X connect -x egress-proxy:8888 %h %p" in text
    assert "ClearAllForwardings yes" in text


def test_known_hosts_plain_and_hashed() -> None:
    entry = SshEntry("git.test")
    salt = b"0123456789abcdefghij"
    digest = base64.b64encode(hmac.new(salt, b"git.test", hashlib.sha1).digest()).decode()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{digest} ssh-ed25519 AAAA"

    def carried(line: str, e: SshEntry = entry) -> bool:
        return matching_known_hosts(["unrelated.test ssh-ed25519 BBBB", line], (e,)) == (line,)

    assert carried(hashed)
    assert carried("other.test,git.test ssh-ed25519 AAAA")
    assert not carried("git.test.evil ssh-ed25519 AAAA")
    assert carried("[git.test]:2222 ssh-ed25519 AAAA", SshEntry("git.test", port=2222))
    assert not carried("@revoked git.test ssh-ed25519 AAAA")
    # As ssh matches them: wildcards are carried, a negated host is not.
    assert carried("*.test ssh-ed25519 AAAA")
    assert not carried("!git.test,*.test ssh-ed25519 AAAA")


def test_known_hosts_keep_entry_then_file_order() -> None:
    lines = ["b.test ssh-ed25519 B", "a.test ssh-ed25519 A1", "x.test ssh-ed25519 X", "a.test ssh-ed25519 A2"]
    entries = (SshEntry("a.test"), SshEntry("b.test"), SshEntry("a.test"))
    assert matching_known_hosts(lines, entries) == (lines[1], lines[3], lines[0])
    assert matching_known_hosts([], entries) == ()
