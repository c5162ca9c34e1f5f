"""`claude-bottle doctor --engine kubernetes` on the test cluster, as users run
it: a throwaway bottle against a throwaway origin pod proves the wall (the
origin answers through the proxy, a refused name gets the proxy's refusal, the
origin's address is unreachable from the agent directly) and leaves nothing;
against a sidecar that lets the refused name through it fails. `--json` is the
report a CI job gates on."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from claude_bottle.engine.kubernetes import KubernetesEngine
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from tests.conftest import wait_for
from tests.installed import cli_argv
from tests.k8s.conftest import REPO

CASE_LABEL = "dev.claude-bottle-test.case"
OPEN_PROXY = "claude-bottle-test/open-squid-k8s:1"
KINDS = ("container", "network", "other")


def doctor(namespace: str, label: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "CLAUDE_BOTTLE_K8S_NAMESPACE": namespace, "CLAUDE_BOTTLE_LABELS": label, **env}
    environ.pop("CLAUDE_BOTTLE_ENGINE", None)  # chosen by the option, as the command line says
    return subprocess.run(cli_argv("doctor", "--engine", "kubernetes", "--json"), cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def left(engine: KubernetesEngine, label: str) -> list[str]:
    return sorted(f"{f.kind} {f.name}" for f in engine.find([label], kinds=KINDS))


@pytest.fixture(scope="module")
def open_proxy(lab: dict[str, str]) -> str:
    """The product's Squid image with a first rule that lets the doctor's refused
    name through (the readiness probe's name is still refused), as a numeric
    user (a pod's image must name one), imported into the cluster."""
    ctx = Path(os.environ.get("TMPDIR", "/tmp")) / f"open-squid-k8s-{secrets.token_hex(3)}"
    ctx.mkdir()
    leak = "acl leak dstdomain refused.doctor.invalid\\nhttp_access allow leak\\n"
    (ctx / "Dockerfile").write_text(
        f"FROM {SQUID_IMAGE}\nUSER 13\n"
        f'ENTRYPOINT ["sh", "-c", "export CLAUDE_BOTTLE_SQUID_CONF=\\"{leak}$CLAUDE_BOTTLE_SQUID_CONF\\"; '
        'exec /usr/local/bin/claude-bottle-squid"]\n'
    )
    subprocess.run(["docker", "build", "-q", "-t", OPEN_PROXY, str(ctx)], check=True, capture_output=True)
    subprocess.run([str(REPO / "scripts" / "setup" / "cluster" / "import-images.sh"), OPEN_PROXY], check=True)
    return OPEN_PROXY


def test_doctor_proves_the_wall_on_the_cluster(
    engine: KubernetesEngine, namespace: str, tmp_path: Path
) -> None:
    label = f"{CASE_LABEL}={secrets.token_hex(4)}"
    result = doctor(namespace, label, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["wall"] == "held"
    assert report["engine"]["name"] == "kubernetes"
    assert report["engine"]["namespace"] == namespace
    wall = {c["name"]: c for c in report["checks"] if c["part"] == "wall"}
    assert wall["allowed host reached through the proxy"]["ok"]
    assert wall["refused host refused by the proxy"]["detail"] == "refused=403"
    assert wall["origin's address unreachable directly"]["ok"]
    assert f"Kubernetes, context {engine.cluster.context}, namespace {namespace}" in result.stderr
    assert "the wall held; nothing was left behind" in result.stderr
    wait_for(lambda: left(engine, label) == [], 30, "nothing of the doctor's to be left", poll=0.3)


def test_doctor_fails_against_a_sidecar_that_lets_a_refused_host_through(
    engine: KubernetesEngine, namespace: str, open_proxy: str, tmp_path: Path
) -> None:
    label = f"{CASE_LABEL}={secrets.token_hex(4)}"
    result = doctor(namespace, label, tmp_path, CLAUDE_BOTTLE_SIDECAR_IMAGE=open_proxy)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["ok"], report["wall"]) == (False, "did not hold")
    failed = [c["name"] for c in report["checks"] if not c["ok"]]
    assert failed == ["refused host refused by the proxy"]
    # The name is let through: the proxy tries it (the cluster's DNS has no such name: its 502)
    # instead of refusing it with its 403.
    assert "FAIL refused host refused by the proxy: refused=502" in result.stderr
    assert "THE WALL DID NOT HOLD" in result.stderr
    wait_for(lambda: left(engine, label) == [], 30, "nothing of the doctor's to be left", poll=0.3)
