"""The Squid image trusting the lab's CA as well, as `claude-bottle build
--extra-ca` makes it for a user's own CA: the sidecar opens TLS itself to the
hosts whose credential it adds (the lab's model API and git.lab.test). Used by
the sidecar suite (Docker) and the Kubernetes suite (imported into the cluster)."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path


def squid_trusting(base: str, ca_pem: str, repository: str) -> str:
    """The tag of `base` with `ca_pem` added to its CAs, built unless there."""
    base_id = _docker("image", "inspect", "--format", "{{.Id}}", base).stdout.strip()
    # USER by number (Squid's proxy user is 13 in Debian): a Kubernetes pod with
    # runAsNonRoot can run only an image whose user is numeric, and the cluster
    # knows the product's image by name, not this one.
    dockerfile = (
        f"FROM {base}\nUSER root\nCOPY lab-ca.pem /usr/local/share/ca-certificates/lab.crt\n"
        "RUN update-ca-certificates >/dev/null\nUSER 13\n"
    )
    tag = f"{repository}:" + hashlib.sha256((base_id + ca_pem + dockerfile).encode()).hexdigest()[:16]
    if _docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(prefix="claude-bottle-lab-squid.") as folder:
        (Path(folder) / "lab-ca.pem").write_text(ca_pem)
        (Path(folder) / "Dockerfile").write_text(dockerfile)
        _docker("build", "-q", "-t", tag, "--label", "dev.claude-bottle-test.lab=squid", folder)
    return tag


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)
