"""Fifty bottles at once on one host: each started, used and removed with
nothing left, never limited by Docker's default address pools."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from claude_bottle.engine.docker import DockerEngine
from tests.engine.conftest import cli, ended_cleanly

BOTTLES = 50


def test_fifty_bottles_at_once(engine: DockerEngine, agent_image: str, tmp_path: Path) -> None:
    manifest = {
        "bottles": {
            "light": {"egress": {"allow": ["allowed.test"]}, "limits": {"memory": "64m", "pids": 64}}
        },
        "agents": {"light": {"bottle": "light"}},
    }
    (tmp_path / "claude-bottle.json").write_text(json.dumps(manifest))

    def one(i: int) -> subprocess.CompletedProcess[str]:
        return cli("run", "light", "-q", "--", "sh", "-c", f"echo bottle-{i}", cwd=tmp_path, timeout=600)

    with ThreadPoolExecutor(max_workers=BOTTLES) as pool:
        results = list(pool.map(one, range(BOTTLES)))
    failures = [r.stderr.strip().splitlines()[-1:] for r in results if r.returncode != 0]
    assert failures == []
    assert sorted(r.stdout for r in results) == sorted(f"bottle-{i}\n" for i in range(BOTTLES))
    ended_cleanly(engine)
