"""Translating engine.api's specs into the Docker Engine API's request bodies
(pure), the same settings argv.py gives the docker CLI: a network's, a hardened
container's, an exec's; and the few answers read back (`docker ps`'s age). The
unit tests read these without an engine."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from claude_bottle.engine.api import ContainerSpec, NetworkSpec
from claude_bottle.engine.docker.argv import INHIBIT_IPV4

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp])?(?:i?b)?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def size_bytes(text: str) -> int:
    """Bytes meant by a size like "4g" as the docker CLI reads `--memory` (powers of 1024)."""
    found = _SIZE.match(text.strip())
    if not found:
        raise ValueError(f"invalid size: '{text}'")
    return int(float(found.group(1)) * _UNITS[(found.group(2) or "").lower()])


def network_body(spec: NetworkSpec) -> dict[str, Any]:
    """`POST /networks/create` for a spec (as argv.network_create_args)."""
    body: dict[str, Any] = {
        "Name": spec.name,
        "Driver": "bridge",
        "CheckDuplicate": True,
        "Internal": spec.internal,
        "Labels": dict(spec.labels),
        "Options": {INHIBIT_IPV4: "true"} if spec.internal else {},
    }
    if spec.subnet is not None:
        body["IPAM"] = {"Driver": "default", "Config": [{"Subnet": str(spec.subnet)}]}
    return body


def container_body(
    spec: ContainerSpec,
    env: Mapping[str, str],
    network: str | None = None,
    *,
    storage: bool = False,
    stdin_once: bool = False,
) -> dict[str, Any]:
    """`POST /containers/create` for a spec (as argv.container_args): the same
    hardening and limits. `env`: the values of its secret variables, which go in
    the request's body (on the socket, in no argv and no file). `network`
    overrides the spec's (`container:NAME`); `stdin_once`: fed a stdin once, as
    `docker run -i` (run_to_end)."""
    lim = spec.limits
    mode = network or spec.network
    host: dict[str, Any] = {
        "NetworkMode": mode,
        "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges"],
        "PidsLimit": lim.pids,
        "Memory": size_bytes(lim.memory),
        "ReadonlyRootfs": spec.read_only,
        # What the docker CLI sets where no flag says (the daemon's own default
        # may be "shareable": another container could join its IPC namespace).
        "IpcMode": "private",
        "RestartPolicy": {"Name": "no"},
    }
    # Only what the CLI's flags would set: an empty list is not the CLI's null.
    if spec.cap_add:
        host["CapAdd"] = [
            cap if cap.upper().startswith("CAP_") else f"CAP_{cap.upper()}" for cap in spec.cap_add
        ]
    if spec.tmpfs:
        host["Tmpfs"] = dict(spec.tmpfs)
    if spec.init:
        host["Init"] = True
    if lim.cpus is not None:
        host["NanoCpus"] = round(lim.cpus * 1e9)
    if spec.runtime:
        host["Runtime"] = spec.runtime
    if spec.low_ports:
        host["Sysctls"] = {"net.ipv4.ip_unprivileged_port_start": "0"}
    if storage and lim.disk:
        host["StorageOpt"] = {"size": lim.disk}
    body: dict[str, Any] = {
        "Image": spec.image,
        "Labels": dict(spec.labels),
        "Env": [*(f"{k}={v}" for k, v in env.items()), *(f"{k}={v}" for k, v in spec.env.items())],
        "HostConfig": host,
        "AttachStdout": stdin_once,
        "AttachStderr": stdin_once,
        "AttachStdin": stdin_once,
        "OpenStdin": stdin_once,
        "StdinOnce": stdin_once,
    }
    if spec.command:
        body["Cmd"] = list(spec.command)
    if spec.user:
        body["User"] = spec.user
    if spec.workdir:
        body["WorkingDir"] = spec.workdir
    if not mode.startswith("container:"):
        endpoint: dict[str, Any] = {"Aliases": list(spec.aliases)}
        if spec.address:
            endpoint["IPAMConfig"] = {"IPv4Address": spec.address}
        body["NetworkingConfig"] = {"EndpointsConfig": {mode: endpoint}}
    return body


def exec_body(
    argv: Sequence[str],
    *,
    stdin: bool,
    user: str | None = None,
    workdir: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`POST /containers/{id}/exec` (as argv.exec_args, without a terminal; `env`:
    what the CLI would send from its env file, in the request body, never argv)."""
    body: dict[str, Any] = {"Cmd": list(argv), "AttachStdin": stdin, "AttachStdout": True,
                            "AttachStderr": True, "Tty": False}  # fmt: skip
    if env:
        body["Env"] = [f"{key}={value}" for key, value in env.items()]
    if user:
        body["User"] = user
    if workdir:
        body["WorkingDir"] = workdir
    return body


def label_filters(labels: Sequence[str]) -> dict[str, list[str]]:
    return {"label": list(labels)} if labels else {}


def human_age(created: float, now: float) -> str:
    """`docker ps`'s RunningFor ("3 minutes ago"), from Unix times (pure; the
    wording of go-units' HumanDuration, which the docker CLI prints)."""
    seconds = max(0.0, now - created)
    hours = int(seconds / 3600 + 0.5)
    if seconds < 1:
        text = "Less than a second"
    elif int(seconds) == 1:
        text = "1 second"
    elif seconds < 60:
        text = f"{int(seconds)} seconds"
    elif int(seconds / 60) == 1:
        text = "About a minute"
    elif seconds < 3600:
        text = f"{int(seconds / 60)} minutes"
    elif hours == 1:
        text = "About an hour"
    elif hours < 48:
        text = f"{hours} hours"
    elif hours < 24 * 7 * 2:
        text = f"{hours // 24} days"
    elif hours < 24 * 30 * 2:
        text = f"{hours // 24 // 7} weeks"
    elif hours < 24 * 365 * 2:
        text = f"{hours // 24 // 30} months"
    else:
        text = f"{int(seconds / 3600 / 24 / 365)} years"
    return f"{text} ago"


def created_at(value: Any) -> float:
    """A container's `Created` (Unix seconds in a list, RFC 3339 in an inspect)."""
    if isinstance(value, int | float):
        return float(value)
    text = re.sub(r"\.(\d{6})\d*", r".\1", str(value)).replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


def listed_field(item: dict[str, object], field_name: str, now: float) -> str:
    """One column of `rows` from a listed object, as the CLI's template prints it."""
    labels = item.get("Labels") or {}
    if field_name.startswith("label:"):
        return str((labels if isinstance(labels, dict) else {}).get(field_name.removeprefix("label:"), ""))
    if field_name == "name":
        names = item.get("Names")
        return str(names[0]).lstrip("/") if isinstance(names, list) and names else str(item.get("Name", ""))
    if field_name == "id":
        return str(item.get("Id", ""))[:12]
    return human_age(created_at(item.get("Created", now)), now)
