"""The JSON Schema of a session record's entries (workspace/record.py), version 1.

Printed by `claude-bottle sessions schema`; a copy is kept in the repository as
`schemas/session-record-v1.schema.json` (a unit test holds them equal), and the
test suites validate every record they write against it. Within a version,
fields are only ever added: an entry's `data` may hold more than listed here."""

from __future__ import annotations

from typing import Any

from claude_bottle.workspace.record import KINDS, VERSION

SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
WHEN = {"type": "string", "format": "date-time"}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


STRING = {"type": "string"}
STRINGS = {"type": "array", "items": STRING}
BY = _object(
    {"user": STRING, "host": STRING, "pid": {"type": "integer"}, "via": STRING},
)
FILE = _object(
    {"path": STRING, "size": {"type": "integer", "minimum": 0}},
    {"sha256": SHA256},
)
IMAGE = _object({"name": STRING, "image": STRING, "image_id": STRING}, {"proxy": STRING})

DATA: dict[str, dict[str, Any]] = {
    "session": _object(
        {
            "session": STRING,
            "agent": STRING,
            "bottle": STRING,
            "started": WHEN,
            "claude_bottle": STRING,
            "plan": {"type": "object", "description": "the plan, as `start --dry-run --json` prints it"},
            "manifest": _object(
                {
                    "path": STRING,
                    "sha256": {
                        "type": "string",
                        "description": "of the file's bytes; empty for the built-in",
                    },
                    "trusted": {"type": "boolean"},
                    "needs_trust": {"type": "boolean"},
                }
            ),
            "engine": _object({"name": STRING, "context": STRING, "endpoint": STRING}, {"namespace": STRING}),
            "by": BY,
            "proxy": _object(
                {
                    "name": STRING,
                    "spec": _object(
                        {
                            "allow": STRINGS,
                            "internal": STRINGS,
                            "dlp": {"enum": ["block", "warn", "off"]},
                            "sni": {"type": "boolean"},
                        },
                        {
                            "ssh_routes": {"type": "array"},
                            "credential_hosts": STRINGS,
                            "plain_credential_hosts": STRINGS,
                        },
                    ),
                }
            ),
        }
    ),
    "containers": _object({"agent": IMAGE, "sidecar": IMAGE}),
    "approval": _object(
        {
            "host": STRING,
            "scope": {"enum": ["session", "always"]},
            "by": BY,
            "proxy": STRING,
        },
        {
            "manifest": _object({"path": STRING, "sha256_before": STRING, "sha256_after": STRING}),
        },
    ),
    "egress": _object(
        {
            "host": STRING,
            "port": {"type": ["integer", "null"]},
            "allowed": {"type": "boolean"},
            "outcome": {"enum": ["answered", "failed", "refused"]},
            "reason": STRING,
            "failure": STRING,
            "method": STRING,
            "ts": {"type": ["number", "null"]},
            "warning": STRING,
        }
    ),
    "transcripts": _object({"files": {"type": "array", "items": FILE}}),
    "work": _object(
        {
            "kind": {"enum": ["branch", "files", "none", "capped"]},
            "branch": {"type": ["string", "null"]},
            "commits": {"type": "integer", "minimum": 0},
            "changed": STRINGS,
            "added": STRINGS,
            "deleted": STRINGS,
            "files": {"type": "array", "items": FILE},
        },
        {"bundle": FILE, "folder": {"type": ["string", "null"]}, "uncommitted": {"type": "boolean"}},
    ),
    "end": _object(
        {
            "ended": WHEN,
            "status": {"type": ["integer", "null"], "description": "the command's exit status, if it ended"},
            "counts": _object(
                {
                    "answered": {"type": "integer"},
                    "failed": {"type": "integer"},
                    "refused": {"type": "integer"},
                    "approvals": {"type": "integer"},
                }
            ),
        }
    ),
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"urn:claude-bottle:session-record:v{VERSION}",
    "title": f"claude-bottle session record entry, version {VERSION}",
    "description": (
        "One line of a session's record.jsonl: canonical JSON (keys sorted, no spaces, UTF-8); "
        "hash is the sha256 of the entry's canonical JSON without hash, prev the hash of the entry "
        "before it (64 zeros for the first)."
    ),
    "type": "object",
    "additionalProperties": False,
    "required": ["at", "data", "hash", "kind", "prev", "seq", "v"],
    "properties": {
        "v": {"const": VERSION},
        "seq": {"type": "integer", "minimum": 0},
        "at": WHEN,
        "kind": {"enum": list(KINDS)},
        "data": {"type": "object"},
        "prev": SHA256,
        "hash": SHA256,
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": kind}}}, "then": {"properties": {"data": DATA[kind]}}}
        for kind in KINDS
    ],
}
