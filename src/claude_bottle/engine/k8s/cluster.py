"""The one seam to the Kubernetes API server: every request of the Kubernetes
engine goes through `Cluster`, and this is the only module that touches the
`kubernetes` package (untyped as far as this code is concerned: `Any` stays
here). Bodies and answers are plain JSON objects, as the API writes them.

Failures come back classified once: 404 → NotFound, 409 → NameConflict, an
API server that cannot be reached → EngineUnavailable, anything else an
EngineError carrying the request (method and path, never a body) and the API
server's message.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from claude_bottle.console import trace
from claude_bottle.errors import (
    EngineError,
    EngineUnavailable,
    NameConflict,
    NotFound,
    NotRunning,
    PathNotFound,
)

Json = dict[str, Any]
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
REQUEST_TIMEOUT = 30.0

# Where each kind of namespaced object lives in the API.
PATHS = {
    "pods": "/api/v1/namespaces/{ns}/pods",
    "secrets": "/api/v1/namespaces/{ns}/secrets",
    "configmaps": "/api/v1/namespaces/{ns}/configmaps",
    "events": "/api/v1/namespaces/{ns}/events",
    "networkpolicies": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
}


# What `docker exec` answers when the command cannot be run at all.
CANNOT_RUN, NOT_FOUND = 126, 127
# The container runtime's words for a command that is not there (runc's, via the kubelet).
_NO_SUCH_COMMAND = re.compile(r"not found|no such file", re.IGNORECASE)


def exit_status(error: bytes) -> tuple[int | None, str]:
    """The command's exit status and the API server's message, from the error
    channel's Status object (None: the stream ended without one)."""
    if not error.strip():
        return None, ""
    try:
        status = json.loads(error)
    except ValueError:
        return CANNOT_RUN, error.decode("utf-8", "replace")
    if not isinstance(status, dict):
        return CANNOT_RUN, error.decode("utf-8", "replace")
    if status.get("status") == "Success":
        return 0, ""
    message = str(status.get("message") or "")
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
            return int(cause["message"]), ""
    # The command did not start: the runtime's words, as `docker exec` classifies them.
    return (NOT_FOUND if _NO_SUCH_COMMAND.search(message) else CANNOT_RUN), message


def not_running(command: Sequence[str], detail: str, what: str) -> NotRunning:
    return NotRunning(command, 1, detail, what)


def no_such(command: Sequence[str], detail: str, what: str = "") -> NotFound:
    return NotFound(command, 1, detail, what)


def copy_failed(
    command: Sequence[str], code: int | None, stderr: str, what: str, missing: bool
) -> EngineError:
    """A copy's command failed: PathNotFound when the path was not there."""
    if missing:
        return PathNotFound(command, code or 1, stderr, what)
    return EngineError(command, -1 if code is None else code, stderr, what)


def _classify(method: str, path: str, status: int, body: bytes, what: str = "") -> EngineError:
    try:
        answer = json.loads(body)
        message = str(answer.get("message") or "") if isinstance(answer, dict) else ""
    except ValueError:
        message = body.decode("utf-8", "replace").strip()[:500]
    kind: type[EngineError] = {404: NotFound, 409: NameConflict}.get(status, EngineError)
    return kind((method, path), status, message or f"HTTP {status}", what or f"'{method} {path}' failed")


@dataclass
class Cluster:
    """A namespace of a cluster, reached as the kubeconfig (or the pod's
    service account) says."""

    api_client: Any
    namespace: str
    context: str  # "" inside a pod (the service account's cluster)

    @classmethod
    def connect(cls, context: str | None = None, namespace: str | None = None) -> Cluster:
        try:
            kclient, kconfig = _module("kubernetes.client"), _module("kubernetes.config")
        except ImportError:
            raise EngineUnavailable(
                "the kubernetes engine needs the 'kubernetes' Python package: "
                "pip install 'claude-bottle[kubernetes]'"
            ) from None
        configuration = kclient.Configuration()
        kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        has_file = any(Path(p).is_file() for p in kubeconfig.split(os.pathsep) if p)
        try:
            if not has_file and not context and os.environ.get("KUBERNETES_SERVICE_HOST"):
                kconfig.load_incluster_config(client_configuration=configuration)
                context = ""
                namespace = namespace or IN_CLUSTER_NAMESPACE.read_text().strip()
            else:
                contexts, current = kconfig.list_kube_config_contexts(config_file=kubeconfig)
                chosen = next((c for c in contexts if c["name"] == context), None) if context else current
                if chosen is None:
                    names = ", ".join(sorted(c["name"] for c in contexts)) or "none"
                    raise EngineUnavailable(f"no context '{context}' in the kubeconfig (it has: {names})")
                context = str(chosen["name"])
                namespace = namespace or str(chosen.get("context", {}).get("namespace") or "default")
                kconfig.load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=configuration,
                    persist_config=False,
                )  # fmt: skip
        except (kconfig.ConfigException, OSError) as exc:
            raise EngineUnavailable(f"no usable kubeconfig ({kubeconfig}): {exc}") from None
        configuration.retries = 1  # an unreachable API server is said at once, not after retries
        return cls(api_client=kclient.ApiClient(configuration), namespace=namespace, context=context)

    @property
    def configuration(self) -> Any:
        return self.api_client.configuration

    def path(self, kind: str, name: str = "", sub: str = "") -> str:
        base = PATHS[kind].format(ns=self.namespace)
        return base + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        query: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
        timeout: float | tuple[float, float] = REQUEST_TIMEOUT,
    ) -> Any:
        from urllib3.exceptions import HTTPError

        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        started = time.monotonic()
        try:
            request = self.api_client.param_serialize(
                method, path, query_params=list(query), header_params=headers, body=body,
                auth_settings=["BearerToken"],
            )  # fmt: skip
            response = self.api_client.call_api(*request, _request_timeout=timeout)
        except HTTPError as exc:
            trace(f"kubernetes {method} {path}", started, -1)
            raise EngineUnavailable(
                f"cannot reach the Kubernetes API server at {self.configuration.host} ({_reason(exc)})"
            ) from None
        trace(f"kubernetes {method} {path}", started, response.status)
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        query: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
        what: str = "",
    ) -> Json:
        """One request to its end; its JSON answer (raises on any status but 2xx)."""
        response = self._send(method, path, body=body, query=query, content_type=content_type)
        data = response.read()
        if not 200 <= response.status <= 299:
            raise _classify(method, path, response.status, data or b"", what)
        answer = json.loads(data) if data else {}
        return answer if isinstance(answer, dict) else {}

    def get(self, kind: str, name: str) -> Json:
        return self.request("GET", self.path(kind, name))

    def list(self, kind: str, selector: str = "", field_selector: str = "") -> list[Json]:
        query = [("labelSelector", selector)] if selector else []
        if field_selector:
            query.append(("fieldSelector", field_selector))
        return list(self.request("GET", self.path(kind), query=query).get("items") or [])

    def create(self, kind: str, body: Json, what: str = "") -> Json:
        return self.request("POST", self.path(kind), body=body, what=what)

    def delete(self, kind: str, name: str, grace: int = 0) -> None:
        """Delete, at once (grace 0) or after the pod's own grace; NotFound when it is not there."""
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": grace,
                   "propagationPolicy": "Background"}  # fmt: skip
        self.request("DELETE", self.path(kind, name), body=options)

    def merge_patch(self, kind: str, name: str, patch: Json, what: str = "") -> Json:
        return self.request(
            "PATCH", self.path(kind, name), body=patch, content_type="application/merge-patch+json", what=what
        )

    def get_cluster(self, path: str) -> Json:
        """A cluster-scoped read (nodes, runtime classes, service ranges, version)."""
        return self.request("GET", path)

    @contextmanager
    def log(self, pod: str, container: str, *, follow: bool) -> Iterator[IO[bytes]]:
        """The container's log (stdout and stderr as the kubelet keeps them), as a stream."""
        path = self.path("pods", pod, "log")
        query = [("container", container)] + ([("follow", "true")] if follow else [])
        response = self._send("GET", path, query=query, timeout=(REQUEST_TIMEOUT, 24 * 3600.0))
        if not 200 <= response.status <= 299:
            raise _classify("GET", path, response.status, response.read() or b"")
        raw = response.response  # urllib3's response, not read yet
        try:
            yield io.BufferedReader(raw)
        finally:
            # Closed before it goes back to the pool: a followed log is never read to
            # its end, and a connection handed back with the stream still coming made
            # the next request on it wait REQUEST_TIMEOUT (30 s) for its answer.
            raw.close()
            raw.release_conn()

    def open_exec(
        self, pod: str, container: str, argv: Sequence[str], *, stdin: bool, tty: bool, sub: str = "exec"
    ) -> Any:
        """A websocket on the pod's exec (or attach) endpoint, its handshake done
        (the framing is streams.Channels'); NotFound etc. as for any request."""
        ws_client, websocket = _module("kubernetes.stream.ws_client"), _module("websocket")

        path = self.path("pods", pod, sub)
        query = [("command", arg) for arg in argv] + [("container", container)]
        query += [("stdin", str(stdin).lower()), ("stdout", "true"), ("tty", str(tty).lower())]
        query += [("stderr", "false" if tty else "true")]
        started = time.monotonic()
        _, url, headers, _, _ = self.api_client.param_serialize(
            "GET", path, query_params=query, header_params={}, auth_settings=["BearerToken"]
        )
        try:
            sock = ws_client.create_websocket(self.configuration, ws_client.get_websocket_url(url), headers)
        except websocket.WebSocketBadStatusException as exc:
            trace(f"kubernetes exec {pod}", started, exc.status_code)
            body = exc.resp_body if isinstance(exc.resp_body, bytes) else b""
            raise _classify("GET", path, exc.status_code, body, f"cannot run a command in {pod}") from None
        except (websocket.WebSocketException, OSError) as exc:
            trace(f"kubernetes exec {pod}", started, -1)
            raise EngineUnavailable(
                f"cannot reach the Kubernetes API server at {self.configuration.host} ({exc})"
            ) from None
        trace(f"kubernetes exec {pod} (opened)", started, 0)
        return sock


def _module(name: str) -> Any:
    """One of the client's modules, kept untyped: its types end at this seam."""
    return importlib.import_module(name)


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def items_by_name(items: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(i["metadata"]["name"]): i for i in items}
