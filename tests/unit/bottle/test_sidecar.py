"""The sidecar container's spec as the Docker engine runs it: every hardening flag (pure)."""

from __future__ import annotations

import io
import itertools
import tarfile
from pathlib import Path

import pytest

from claude_bottle.bottle.sidecar import sidecar_spec
from claude_bottle.engine.docker.argv import container_args, files_tar
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.plan import Options, build_plan


@pytest.mark.parametrize("proxy", ["squid", "pipelock"])
def test_sidecar_run_args_carry_every_hardening_flag(tmp_path: Path, proxy: str) -> None:
    data = {
        "bottles": {"b": {"egress": {"allow": ["a.test"], "proxy": proxy}}},
        "agents": {"a": {"bottle": "b"}},
    }
    plan = build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {}, "s1", frozenset())
    spec = sidecar_spec(plan, "side", "internal-net", "198.18.0.2", {"l": "1"}, "the config")
    args = ("run", "--detach", *container_args(spec))
    pairs = set(itertools.pairwise(args))
    assert {("--cap-drop", "ALL"), ("--security-opt", "no-new-privileges"), ("--network", "internal-net"),
            ("--ip", "198.18.0.2"), ("--pids-limit", "512"), ("--memory", "1g")} <= pairs  # fmt: skip
    assert not any(a in args for a in ("--privileged", "--cap-add", "--publish", "-p"))
    if proxy == "squid":
        assert "--read-only" in args
        assert ("--env", "CLAUDE_BOTTLE_SQUID_CONF") in pairs  # the value travels in the CLI's environment
        assert not any(a.startswith("CLAUDE_BOTTLE_SQUID_CONF=") for a in args)
    else:  # a file placed in the container before it starts, from a tar stream
        assert [(f.path, f.content) for f in spec.files] == [
            ("/etc/claude-bottle/pipelock.yaml", b"the config")
        ]
        with tarfile.open(fileobj=io.BytesIO(files_tar(spec.files))) as tar:
            member = tar.getmember("etc/claude-bottle/pipelock.yaml")
            assert (member.uid, member.mode) == (0, 0o444)
            assert tar.getmember("etc/claude-bottle").isdir()
    assert "the config" not in " ".join(args)
    assert not any(a in args for a in ("--volume", "-v", "--mount"))  # nothing from the host's disk
