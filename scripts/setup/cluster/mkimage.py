#!/usr/bin/env python3
"""Pack one static binary into a docker-archive image tar that `ctr images import`
accepts, with no registry and no docker build: the test cluster's sandbox ("pause")
and smoke-test image. Usage: mkimage.py BINARY OUT.tar TAG [TAG...]"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile

EPOCH = "2026-01-01T00:00:00Z"


def entry(name: str, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def layer_of(binary: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(entry("tmp", type=tarfile.DIRTYPE, mode=0o1777))
        tar.addfile(entry("cb-k8s-tool", size=len(binary), mode=0o755), io.BytesIO(binary))
        tar.addfile(entry("pause", type=tarfile.SYMTYPE, linkname="cb-k8s-tool"))
    return buf.getvalue()


def main(binary_path: str, out: str, *tags: str) -> None:
    with open(binary_path, "rb") as f:
        layer = layer_of(f.read())
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": EPOCH,
        "config": {"Entrypoint": ["/cb-k8s-tool"], "Cmd": ["pause"], "Env": ["PATH=/"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": EPOCH, "created_by": "mkimage.py"}],
    }).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": list(tags), "Layers": [layer_name]}]).encode()
    with tarfile.open(out, "w") as tar:
        for name, data in ((config_name, config), (layer_name, layer), ("manifest.json", manifest)):
            tar.addfile(entry(name, size=len(data)), io.BytesIO(data))


if __name__ == "__main__":
    main(*sys.argv[1:])
