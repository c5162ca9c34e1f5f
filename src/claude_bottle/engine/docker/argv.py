"""Translating engine.api's specs into the docker CLI's argv (pure): networks,
containers and their files, commands in them, and the Go templates of `ps` and
`network ls`. The unit tests read these without an engine."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from claude_bottle.engine.api import ContainerSpec, FileSpec, NetworkSpec
from claude_bottle.engine.docker.envfile import OWN_PREFIX

# The internal bridge gets no host address: a bottle cannot reach services on
# the host through the gateway (containers on it still see each other).
INHIBIT_IPV4 = "com.docker.network.bridge.inhibit_ipv4"


# --- Translating the specs (pure) -------------------------------------------------


def label_args(labels: Mapping[str, str]) -> list[str]:
    return [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]


def network_create_args(spec: NetworkSpec) -> tuple[str, ...]:
    """`docker network create` arguments for a spec: an internal network has no
    route out, a subnet of its own when one is named, and no host address."""
    return (
        "network", "create", "--driver", "bridge",
        *(("--internal",) if spec.internal else ()),
        *(("--subnet", str(spec.subnet)) if spec.subnet is not None else ()),
        *(("--opt", f"{INHIBIT_IPV4}=true") if spec.internal else ()),
        *label_args(spec.labels),
        spec.name,
    )  # fmt: skip


def storage_limit_problem(driver_info: str) -> str | None:
    """Why containers of an engine whose `docker info` says `driver_info` (the
    driver, a tab, its status as JSON) cannot have a disk limit, or None (pure).
    overlay2 can limit only on xfs mounted with `pquota`, which the engine does
    not report: taken as cannot, rather than failing at the first container."""
    driver, _, status = driver_info.strip().partition("\t")
    try:
        pairs = {str(k): str(v) for k, v in json.loads(status or "[]")}
    except (ValueError, TypeError):
        pairs = {}
    if driver in ("btrfs", "zfs", "devicemapper", "windowsfilter"):
        return None
    backing = pairs.get("Backing Filesystem", "")
    on = f" on {backing}" if backing else ""
    hint = " (overlay2 can only on xfs mounted with pquota, which the engine does not report)" if (
        driver == "overlay2" and backing == "xfs") else ""  # fmt: skip
    return f"the engine's storage driver ({driver or 'unknown'}{on}) cannot limit a container's disk{hint}"


def container_args(
    spec: ContainerSpec, network: str | None = None, *, env_file: str | None = None, storage: bool = False
) -> tuple[str, ...]:
    """`docker create`/`docker run` arguments for a spec, from the name to the
    command (pure). Every container is hardened: no capabilities but those named,
    no privilege escalation, limits (the disk too, where `storage` says the
    engine can). Secret values are not in them: `env_file` (see `env_file`)
    holds them, but the tool's own, which `--env NAME` takes from the docker
    client's environment. `network` overrides the spec's (`container:NAME`, to
    join another container's network namespace)."""
    lim = spec.limits
    carried = [key for key in spec.secret_env if not key.startswith(OWN_PREFIX)]
    assert env_file or not carried, f"the values of {', '.join(carried)} need an env file"
    return (
        "--name", spec.name,
        "--network", network or spec.network,
        *(("--ip", spec.address) if spec.address else ()),
        *(arg for alias in spec.aliases for arg in ("--network-alias", alias)),
        *label_args(spec.labels),
        *(("--init",) if spec.init else ()),
        "--cap-drop", "ALL",
        *(arg for cap in spec.cap_add for arg in ("--cap-add", cap)),
        "--security-opt", "no-new-privileges",
        "--pids-limit", str(lim.pids),
        "--memory", lim.memory,
        *(("--cpus", f"{lim.cpus:g}") if lim.cpus is not None else ()),
        *(("--runtime", spec.runtime) if spec.runtime else ()),
        *(("--read-only",) if spec.read_only else ()),
        *(("--sysctl", "net.ipv4.ip_unprivileged_port_start=0") if spec.low_ports else ()),
        *(arg for path, options in spec.tmpfs for arg in ("--tmpfs", f"{path}:{options}")),
        *(("--user", spec.user) if spec.user else ()),
        *(("--workdir", spec.workdir) if spec.workdir else ()),
        *(("--storage-opt", f"size={lim.disk}") if storage and lim.disk else ()),
        *(("--env-file", env_file) if env_file else ()),
        *(arg for key, value in spec.env.items() for arg in ("--env", f"{key}={value}")),
        *(arg for key in spec.secret_env if key.startswith(OWN_PREFIX) for arg in ("--env", key)),
        spec.image,
        *spec.command,
    )  # fmt: skip


def files_tar(files: Sequence[FileSpec]) -> bytes:
    """The spec's files as one tar to unpack at the container's root, owned by
    root, with their folders (mode 755) made first."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folders: dict[str, None] = {}
        for spec in files:
            for parent in reversed(PurePosixPath(spec.path.lstrip("/")).parents[:-1]):
                folders[parent.as_posix()] = None
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for spec in files:
            info = tarfile.TarInfo(spec.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(spec.content), spec.mode, now
            tar.addfile(info, io.BytesIO(spec.content))
    return buf.getvalue()


def exec_args(
    container: str,
    argv: Sequence[str],
    *,
    interactive: bool = False,
    tty: bool = False,
    user: str | None = None,
    workdir: str | None = None,
    env_file: str | None = None,
) -> tuple[str, ...]:
    flags = ("-it",) if tty else (("-i",) if interactive else ())
    return (
        "exec", *flags,
        *(("--env-file", env_file) if env_file else ()),
        *(("--user", user) if user else ()),
        *(("--workdir", workdir) if workdir else ()),
        container, *argv,
    )  # fmt: skip


def field_template(kind: str, field: str) -> str:
    if field.startswith("label:"):
        return f'{{{{.Label "{field.removeprefix("label:")}"}}}}'
    if field == "name":
        return "{{.Names}}" if kind == "container" else "{{.Name}}"
    return {"id": "{{.ID}}", "age": "{{.RunningFor}}"}[field]
