"""`claude-bottle doctor` on the real engine: it passes where the wall holds,
and fails with a clear message when the sidecar image is missing or when the
proxy lets a refused host through."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from tests.engine.conftest import cli

OPEN_PROXY = "claude-bottle-test/open-squid:1"


@pytest.fixture(scope="session")
def open_proxy(engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The product's Squid image, with a rule put first that lets the doctor's
    refused host through (the readiness probe's name is still refused)."""
    ctx = tmp_path_factory.mktemp("open-squid")
    leak = "acl leak dstdomain refused.doctor.invalid\\nhttp_access allow leak\\n"
    (ctx / "Dockerfile").write_text(
        f"FROM {SQUID_IMAGE}\n"
        f'ENTRYPOINT ["sh", "-c", "export CLAUDE_BOTTLE_SQUID_CONF=\\"{leak}$CLAUDE_BOTTLE_SQUID_CONF\\"; '
        'exec /usr/local/bin/claude-bottle-squid"]\n'
    )
    engine.run("build", "-q", "-t", OPEN_PROXY, str(ctx))
    return OPEN_PROXY


@pytest.mark.remote_engine
def test_doctor_proves_the_wall(agent_image: str, tmp_path: Path) -> None:
    result = cli("doctor", cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr
    for line in ("ok   allowed host reached through the proxy",
                 "ok   refused host refused by the proxy: refused=403",
                 "ok   origin's address unreachable directly", "the wall held"):  # fmt: skip
        assert line in result.stderr


def test_doctor_fails_when_the_sidecar_image_is_missing(agent_image: str, tmp_path: Path) -> None:
    result = cli("doctor", cwd=tmp_path, env={"CLAUDE_BOTTLE_SIDECAR_IMAGE": "claude-bottle-test/none:0"})
    assert result.returncode == 1
    assert "FAIL sidecar image claude-bottle-test/none:0: missing" in result.stderr
    assert "the wall was not tried" in result.stderr


def test_doctor_fails_when_the_wall_does_not_hold(agent_image: str, open_proxy: str, tmp_path: Path) -> None:
    result = cli("doctor", cwd=tmp_path, env={"CLAUDE_BOTTLE_SIDECAR_IMAGE": open_proxy}, timeout=180)
    assert result.returncode == 1, result.stderr
    assert "FAIL refused host refused by the proxy" in result.stderr
    assert "THE WALL DID NOT HOLD" in result.stderr
