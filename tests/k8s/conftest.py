"""The Kubernetes engine against the test cluster (scripts/setup/k8s.sh): its
env file names the kubeconfig, the lab's addresses and the cluster's ranges.

Every test session works in a namespace of its own, made here and removed at
the end; after each test nothing claude-bottle made may be left in it."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.engine.k8s import meta
from claude_bottle.engine.k8s.cluster import Cluster
from claude_bottle.engine.kubernetes import KubernetesEngine
from claude_bottle.settings import Settings
from tests.lab_ca import squid_trusting

REPO = Path(__file__).resolve().parents[2]
ENV_FILE = Path(os.environ.get("CLAUDE_BOTTLE_K8S_ENV", "/var/lib/claude-bottle/k8s/env"))
IMAGES = ("claude-bottle:latest", "claude-bottle-squid:latest")
KINDS = ("pods", "secrets", "configmaps", "networkpolicies")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "k8s" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.k8s)


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


@pytest.fixture(scope="session", autouse=True)
def installed(as_installed: Path) -> Path:
    """Every CLI process this suite starts is the installed wheel's (tests/installed.py)."""
    return as_installed


@pytest.fixture(scope="session")
def lab() -> dict[str, str]:
    """The test cluster's facts (KUBECONFIG, lab and cluster addresses), in os.environ too."""
    if not ENV_FILE.is_file():
        pytest.fail(f"no test cluster: {ENV_FILE} is missing (run scripts/setup/k8s.sh)")
    env = read_env(ENV_FILE)
    os.environ["KUBECONFIG"] = env["KUBECONFIG"]
    importer = REPO / "scripts" / "setup" / "cluster" / "import-images.sh"
    if importer.is_file():
        subprocess.run([str(importer), *IMAGES], check=True)
    return env


def _lab_script() -> Path | None:
    for candidate in (
        REPO / "scripts" / "setup" / "cluster" / "lab.sh",
        Path(os.environ.get("CLAUDE_BOTTLE_K8S_LAB_SCRIPT", "")),
    ):
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(scope="session", autouse=True)
def lab_servers(lab: dict[str, str]) -> Iterator[None]:
    """The lab's web and DNS servers up for the session (started here when they are not)."""
    script = _lab_script()
    if script is None:
        yield
        return
    started = subprocess.run([str(script), "status"], check=False).returncode != 0
    if started:
        subprocess.run([str(script), "start"], check=True)
    try:
        yield
    finally:
        if started:
            subprocess.run([str(script), "stop"], check=False)


@pytest.fixture(scope="session")
def sidecar_image(lab: dict[str, str], lab_servers: None) -> str:
    """The Squid image trusting the lab's CA too, in the cluster (as `claude-bottle
    build --extra-ca` makes it for a user's CA): the sidecar opens TLS itself to
    the hosts whose credential it adds."""
    ca = (Path(lab["CLAUDE_BOTTLE_K8S_DIR"]) / "lab" / "cert.pem").read_text()
    tag = squid_trusting("claude-bottle-squid:latest", ca, "claude-bottle-lab/squid-k8s")
    subprocess.run([str(REPO / "scripts" / "setup" / "cluster" / "import-images.sh"), tag], check=True)
    return tag


@pytest.fixture(scope="session")
def namespace(lab: dict[str, str]) -> Iterator[str]:
    name = f"cb-test-{secrets.token_hex(3)}"
    cluster = Cluster.connect(None, "default")
    cluster.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    os.environ["CLAUDE_BOTTLE_K8S_NAMESPACE"] = name
    try:
        yield name
    finally:
        os.environ.pop("CLAUDE_BOTTLE_K8S_NAMESPACE", None)
        cluster.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def engine(namespace: str) -> KubernetesEngine:
    return KubernetesEngine.locate(Settings.from_environ())


def leftovers(engine: KubernetesEngine) -> list[str]:
    """What claude-bottle made that is still in the namespace (pods being deleted count)."""
    selector = f"{meta.MANAGED_BY}={meta.MANAGED_BY_VALUE}"
    return [
        f"{kind}/{item['metadata']['name']}" for kind in KINDS for item in engine.cluster.list(kind, selector)
    ]


def wait_empty(engine: KubernetesEngine, keep: tuple[str, ...] = (), timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = [x for x in leftovers(engine) if x not in keep]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.3)


@pytest.fixture
def clean(engine: KubernetesEngine) -> Iterator[None]:
    """The test leaves nothing of claude-bottle's in the namespace (but what a module shares)."""
    before = tuple(leftovers(engine))
    yield
    assert wait_empty(engine, keep=before) == []
