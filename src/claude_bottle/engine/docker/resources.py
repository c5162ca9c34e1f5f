"""The Docker engine's resources: networks and containers (made from engine.api's
specs), and finding and removing what claude-bottle made, by label."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Literal

from claude_bottle.engine.api import ContainerSpec, Found, NetworkSpec
from claude_bottle.engine.docker.argv import (
    container_args,
    field_template,
    files_tar,
    network_create_args,
    storage_limit_problem,
)
from claude_bottle.engine.docker.envfile import OWN_PREFIX, env_file
from claude_bottle.engine.docker.runner import DockerCLI, end_process
from claude_bottle.errors import NameConflict, NotFound, UsageError


class DockerResources(DockerCLI):
    """Networks, containers, and finding them by label."""

    _storage: tuple[str | None] | None

    # --- Networks -----------------------------------------------------------------

    def create_network(self, spec: NetworkSpec) -> None:
        self.run(*network_create_args(spec), what=f"cannot create network {spec.name}")

    def remove_network(self, name: str) -> None:
        self.run("network", "rm", name, what=f"cannot remove network {name}")

    def network_exists(self, name: str) -> bool:
        return self.ok("network", "inspect", "--format", "{{.Name}}", name)

    # --- Containers ---------------------------------------------------------------

    def run_container(self, spec: ContainerSpec, secrets: Mapping[str, str] | None = None) -> None:
        """`docker run --detach`; with files, `docker create`, `docker cp` of a tar
        stream and `docker start` (no bind mount: remote engines work). What was
        made is removed again when a later step fails; a name another container
        holds (NameConflict) is left to its owner. The secrets' values go through
        an env file on a pipe, but the tool's own (OWN_PREFIX), in the client's environment."""
        values = dict(secrets or {})
        missing = [name for name in spec.secret_env if name not in values]
        if missing:
            raise UsageError(f"container {spec.name}: no value for {', '.join(missing)}")
        own = {k: values[k] for k in spec.secret_env if k.startswith(OWN_PREFIX)}
        carried = {k: values[k] for k in spec.secret_env if not k.startswith(OWN_PREFIX)}
        what = f"cannot start the container {spec.name}"
        storage = spec.limits.disk is not None and self.storage_limit_problem() is None
        with env_file(carried) as (path, fds):
            args = container_args(spec, env_file=path, storage=storage)
            if not spec.files:
                try:
                    self.run("run", "--detach", *args, env=own, pass_fds=fds, what=what)
                except NameConflict:
                    raise
                except BaseException:
                    self._remove_quietly(spec.name)  # `docker run` can fail after creating it
                    raise
                return
            self.run("create", *args, env=own, pass_fds=fds, what=what)
        try:
            self.run("cp", "-", f"{spec.name}:/", stdin=files_tar(spec.files),
                     what=f"cannot copy files into {spec.name}")  # fmt: skip
            self.run("start", spec.name, what=what)
        except BaseException:
            self._remove_quietly(spec.name)
            raise

    def run_to_end(
        self, spec: ContainerSpec, *, stdin: bytes | None = None, join: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`docker run --rm -i`; `join` shares that container's network namespace."""
        assert not spec.secret_env, "a container run to its end is given no secrets"
        args = ("run", "--rm", "-i", *container_args(spec, f"container:{join}" if join else None))
        try:
            result = self.run(*args, stdin=stdin if stdin is not None else b"", check=False)
        finally:
            # `--rm` is the engine's to honour, and an exited one was seen left
            # behind under load (Docker 20.10): removed here too, quietly.
            self._remove_quietly(spec.name)
        if result.returncode == 125:  # docker's own failure, not the command's
            raise self.error_of(result)
        return result

    def _remove_quietly(self, name: str) -> None:
        self.run("rm", "-f", name, check=False)

    def connect(self, network: str, container: str) -> None:
        self.run("network", "connect", network, container, what=f"cannot connect {container} to {network}")

    def address_of(self, container: str, network: str) -> str:
        fmt = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        return self.run("inspect", "--format", fmt, container).stdout.strip()

    def remove_containers(self, *names: str, missing_ok: bool = True) -> None:
        if not names:
            return
        what = f"cannot remove {', '.join(names)}"
        result = self.run("rm", "-f", *names, check=False)
        if result.returncode != 0 and not (missing_ok and self.failed_for(result, NotFound)):
            raise self.error_of(result, what)

    def start(self, container: str) -> None:
        self.run("start", container, what=f"cannot start {container} again")

    def image_of(self, container: str) -> str:
        return self.run("inspect", "--format", "{{.Image}}", container,
                        what=f"cannot read the image of {container}").stdout.strip()  # fmt: skip

    def logs(self, container: str) -> str:
        result = self.run("logs", container, what=f"cannot read the log of {container}")
        return result.stdout + result.stderr

    @contextlib.contextmanager
    def follow_logs(self, container: str) -> Iterator[IO[bytes]]:
        proc = self.popen("logs", "--follow", container, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        try:
            yield proc.stdout
        finally:
            end_process(proc)
            proc.stdout.close()

    # --- Finding what claude-bottle made ------------------------------------------

    def find(
        self,
        labels: Sequence[str],
        *,
        kinds: Sequence[str] = ("container", "network"),
        running: bool = False,
        carried: Sequence[str] = (),
    ) -> list[Found]:
        found: list[Found] = []
        for kind in ("container", "network"):
            if kind not in kinds:
                continue
            # A network has no age to tell (`docker network ls` knows only when it was made).
            fields = ("name", "age" if kind == "container" else "name", *(f"label:{key}" for key in carried))
            for row in self.rows(kind, labels, fields, stopped=not running):
                name, age, *values = row
                values_of = {key: value for key, value in zip(carried, values, strict=True) if value}
                found.append(Found(kind, name, values_of, age if kind == "container" else ""))
        return found

    def remove_found(self, objects: Sequence[Found]) -> list[str]:
        """Containers first (a network cannot go while attached), then networks."""
        errors = []
        for kind, args in (("container", ("rm", "-f")), ("network", ("network", "rm"))):
            names = [o.name for o in objects if o.kind == kind]
            if names:
                result = self.run(*args, *names, check=False)
                if result.returncode != 0 and not self.failed_for(result, NotFound):
                    errors.append(result.stderr.strip())
        return errors

    def rows(
        self,
        kind: Literal["container", "network"],
        labels: Sequence[str],
        fields: Sequence[str],
        *,
        stopped: bool = True,
    ) -> list[tuple[str, ...]]:
        """The containers (running ones only unless `stopped`) or networks carrying every
        label of `labels` ("KEY" or "KEY=VALUE"), each as the values of `fields`:
        "id", "name", "age" or "label:KEY" ("" where absent)."""
        filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
        fmt = "\t".join(field_template(kind, f) for f in fields)
        if kind == "container":
            args: tuple[str, ...] = ("ps", *(("-a",) if stopped else ()), *filters, "--format", fmt)
        else:
            args = ("network", "ls", *filters, "--format", fmt)
        return [tuple((row.split("\t") + [""] * len(fields))[: len(fields)]) for row in self.lines(*args)]

    def storage_limit_problem(self) -> str | None:
        """Why this engine's containers cannot have a disk limit, or None (asked once)."""
        if self._storage is None:
            fmt = "{{.Driver}}\t{{json .DriverStatus}}"
            result = self.run("info", "--format", fmt, check=False)
            self._storage = (storage_limit_problem(result.stdout) if result.returncode == 0
                             else "the engine did not say which storage driver it uses",)  # fmt: skip
        return self._storage[0]
