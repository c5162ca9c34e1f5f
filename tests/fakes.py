"""One in-memory engine for the unit tests (as docker-py's tests/unit/fake_api.py
is for its): an engine.api.Engine that makes nothing, records every call, and
answers from what it was told. A test sets what it needs (the capabilities,
the objects `find` sees, what an exec prints, a failing search) and reads back
what was asked."""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import IO, Any

from claude_bottle.bottle.floor import APPLIED
from claude_bottle.engine.api import (
    Capabilities,
    ContainerSpec,
    Engine,
    EngineCheck,
    EngineTarget,
    Found,
    ImageStore,
    NetworkSpec,
)

ASSIGNED = "10.99.0.7"  # the address an engine that pins none gives a container


class FakeEngine:
    """Every call is in `calls` (name, subject). Containers run are in
    `containers`; `objects` is what `find` sees (by label) and `remove_found`
    takes away; the first `failing_searches` searches raise `search_error`.
    `exec` returns `exec_status` with `exec_stdout`/`exec_stderr` and records
    argv and stdin in `execs`; `copy_in` records each tar's files in `copied`
    and then calls `after_copy_in`; `logs` returns `log`."""

    def __init__(self, capabilities: Capabilities | None = None) -> None:
        self.capabilities = capabilities or Capabilities("fake", True, True, True)
        self.calls: list[tuple[str, Any]] = []
        self.containers: dict[str, ContainerSpec] = {}
        self.objects: list[Found] = []
        self.failing_searches = 0
        self.search_error: Exception = OSError("search failed")
        self.searches = 0
        self.exec_status = 0
        self.exec_stdout = ""
        self.exec_stderr = ""
        self.execs: list[tuple[tuple[str, ...], str]] = []
        self.attached: list[tuple[tuple[str, ...], dict[str, str]]] = []
        self.copied: list[tuple[str, dict[str, bytes]]] = []
        self.after_copy_in: Callable[[], None] = lambda: None
        self.log = ""

    def create_network(self, spec: NetworkSpec) -> None:
        self.calls.append(("create_network", spec.name))

    def remove_network(self, name: str) -> None:
        self.calls.append(("remove_network", name))

    def network_exists(self, name: str) -> bool:
        return True

    def run_container(self, spec: ContainerSpec, secrets: Mapping[str, str] | None = None) -> None:
        self.calls.append(("run_container", spec.name))
        self.containers[spec.name] = spec

    def run_to_end(
        self, spec: ContainerSpec, *, stdin: bytes | None = None, join: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append(("run_to_end", spec.name))
        said = (
            f"{APPLIED} nothing\n" if spec.name.endswith("-floor") else ""
        )  # what the floor's script prints
        return subprocess.CompletedProcess([], 0, said, "")

    def connect(self, network: str, container: str) -> None:
        self.calls.append(("connect", container))

    def address_of(self, container: str, network: str) -> str:
        self.calls.append(("address_of", container))
        return ASSIGNED

    def remove_containers(self, *names: str, missing_ok: bool = True) -> None:
        self.calls.append(("remove_containers", names))

    def start(self, container: str) -> None:
        self.calls.append(("start", container))

    def logs(self, container: str) -> str:
        self.calls.append(("logs", container))
        return self.log

    @contextlib.contextmanager
    def follow_logs(self, container: str) -> Iterator[IO[bytes]]:
        yield io.BytesIO(self.log.encode())

    def copy_in(self, container: str, dest: str, tar: bytes | IO[bytes]) -> None:
        self.calls.append(("copy_in", container))
        data = tar if isinstance(tar, bytes) else tar.read()
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}  # type: ignore[union-attr]
        self.copied.append((dest, files))
        self.after_copy_in()

    def copy_out(self, container: str, path: str) -> AbstractContextManager[IO[bytes]]:
        return contextlib.nullcontext(io.BytesIO())

    def exec(
        self,
        container: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append(("exec", container))
        self.execs.append((tuple(argv), (stdin or b"").decode()))
        return subprocess.CompletedProcess(list(argv), self.exec_status, self.exec_stdout, self.exec_stderr)

    def exec_stream(self, container: str, argv: Sequence[str], *, user: str | None = None) -> Any:
        raise NotImplementedError

    def attach(
        self,
        container: str,
        argv: Sequence[str],
        *,
        tty: bool,
        user: str | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> int:
        self.attached.append((tuple(argv), dict(env or {})))
        return 0

    def find(
        self,
        labels: Sequence[str],
        *,
        kinds: Sequence[str] = ("container", "network"),
        running: bool = False,
        carried: Sequence[str] = (),
    ) -> list[Found]:
        self.searches += 1
        if self.searches <= self.failing_searches:
            raise self.search_error
        return [o for o in self.objects if o.kind in kinds and all(_has(o, label) for label in labels)]

    def remove_found(self, objects: Sequence[Found]) -> list[str]:
        self.objects = [o for o in self.objects if o not in objects]
        return []

    def runtimes(self) -> frozenset[str]:
        return frozenset({"runc"})

    def storage_limit_problem(self) -> str | None:
        return "a recording engine makes no disk"

    def describe(self) -> tuple[str, ...]:
        return ("recording",)

    def target(self) -> EngineTarget:
        return EngineTarget("recording")

    def image_of(self, container: str) -> str:
        self.calls.append(("image_of", container))
        return f"sha256:{container}"

    def images(self) -> ImageStore | None:
        return None  # like an engine that takes its images from a registry

    def refuse_environment(self, values: Mapping[str, str]) -> None:
        return None

    def known_fault(self) -> tuple[str, str] | None:
        return None

    def health(self) -> list[EngineCheck]:
        return [EngineCheck("engine", True, "recording")]


def _has(found: Found, label: str) -> bool:
    """`key=value`: the label with that value; `key`: the label at all (docker's filter)."""
    key, sep, value = label.partition("=")
    return found.labels.get(key) == value if sep else key in found.labels


def _is_an_engine() -> Engine:
    return FakeEngine()  # mypy holds it to the whole Engine protocol
