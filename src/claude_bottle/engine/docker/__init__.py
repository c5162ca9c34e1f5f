"""The docker CLI as an `engine.api.Engine`: the only package that knows docker's
argv, its Go templates and its wording (tests/unit/engine/test_errors.py greps
for them elsewhere).

The specs of `engine/api.py` are translated here once, by pure functions
(`network_create_args`, `container_args`) that the unit tests read without an
engine. Commands are argv tuples, never shell strings. Values that must not be
seen never enter argv: the agent's variables travel in an env file the docker
client reads from a pipe it inherits (`--env-file /dev/fd/N`), read once and
never on a disk or in any process's environment; the sidecar's configuration
(the tool's own variable, not a secret, many lines long) in the client's own
environment, named with `--env NAME`. The client's environment is otherwise
built from an allowlist of the user's own variables (hostenv.docker_env), so no
manifest's name or value ever steers it. A failed call
raises EngineError carrying the command (for display), its exit status and
stderr, classified once into a typed kind (NotFound, NameConflict, NotRunning,
PathNotFound, AddressConflict; EngineUnavailable when the daemon cannot be
reached).

Nothing from the CLI's host is ever bind-mounted: files go in as tar streams
(`docker cp`), so a remote engine (DOCKER_HOST) runs a bottle the same way.

On the local engine the same calls are Engine API requests on its unix socket
instead (apiengine.DockerAPIEngine, chosen once per session by
endpoint.api_socket; CLAUDE_BOTTLE_DOCKER_API=cli keeps the CLI): no docker
client process a call. A command on a terminal, images and remote engines stay
the CLI's.
"""

from __future__ import annotations

from claude_bottle.engine.docker import apiengine  # noqa: F401  (registers the API path on DockerEngine)
from claude_bottle.engine.docker.engine import DockerEngine

__all__ = ["DockerEngine"]
