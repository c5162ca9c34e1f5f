"""JSON Schema of claude-bottle.json, for editors (`claude-bottle schema`).

The validator in manifest.py is what the tool enforces (with better messages);
tests check that both accept and refuse the same shapes.
"""

from __future__ import annotations

from typing import Any

from claude_bottle.hostenv import refused_names_pattern

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = {
    "type": "string",
    "pattern": rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$",
    "description": "A host name, or *.example.com for example.com and all its subdomains.",
}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_WORD = {"type": "string", "pattern": r"^[^\s*]+$"}


def manifest_schema() -> dict[str, Any]:
    bottle = {
        "type": "object",
        "additionalProperties": False,
        "required": ["egress"],
        "properties": {
            "description": {"type": "string"},
            "runtime": {
                "enum": ["runc", "runsc"],
                "default": "runc",
                "description": "runc (default) or runsc (gVisor).",
            },
            "egress": {
                "type": "object",
                "additionalProperties": False,
                "required": ["allow"],
                "properties": {
                    "allow": {
                        "type": "array",
                        "items": _HOST,
                        "description": "Hosts the agent may reach (HTTPS through the proxy).",
                    },
                    "internal": {
                        "type": "array",
                        "items": _HOST,
                        "description": "Hosts allowed although they resolve to private addresses.",
                    },
                    "network": {
                        "type": "string",
                        "description": "An existing Docker network for the proxy's way out.",
                    },
                    "dlp": {"enum": ["block", "warn", "off"], "default": "block"},
                    "proxy": {
                        "enum": ["squid", "pipelock"],
                        "default": "squid",
                        "description": "The egress sidecar: squid (default, built locally) or pipelock.",
                    },
                    "sni": {
                        "type": "boolean",
                        "default": True,
                        "description": "Refuse TLS whose SNI is not allowed (never decrypts); false turns "
                        "the check off (domain fronting then passes), shown in the plan and by trust.",
                    },
                },
            },
            "limits": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "memory": {
                        "type": "string",
                        "pattern": "^[0-9]{1,16}[bkmgBKMG]?$",
                        "default": "8g",
                        "description": "at least 6m (the engine's minimum), at most 1048576g",
                    },
                    "cpus": {"type": "number", "minimum": 0.01, "default": 2},
                    "pids": {"type": "integer", "minimum": 64, "maximum": 4194304, "default": 1024},
                    "disk": {
                        "type": "string",
                        "pattern": "^[0-9]{1,16}[bkmgBKMG]?$",
                        "default": "32g",
                        "description": "the agent's writable disk, where the engine's storage driver can "
                        "limit it (at least 1g); the plan says when it cannot",
                    },
                },
            },
        },
    }
    # A variable's name, but none that steers a program on the host or the agent's start.
    agent_env_name = {"pattern": _ENV_NAME, "not": {"pattern": refused_names_pattern()}}
    env_value = {
        "oneOf": [
            {"type": "string", "description": "A literal value."},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["from_env"],
                "properties": {
                    "from_env": {"type": "string", "pattern": _ENV_NAME},
                    "optional": {"type": "boolean", "default": False},
                    "inject": {
                        "type": ["string", "boolean"],
                        "description": "A host the egress sidecar adds this credential for (the agent "
                        "holds a placeholder), or false to keep the value inside the bottle.",
                    },
                },
            },
        ]
    }
    agent = {
        "type": "object",
        "additionalProperties": False,
        "required": ["bottle"],
        "not": {"required": ["prompt", "prompt_file"]},
        "properties": {
            "description": {"type": "string"},
            "bottle": {"type": "string"},
            "prompt": {"type": "string"},
            "prompt_file": {"type": "string", "description": "Relative to the manifest."},
            "env": {
                "oneOf": [
                    {"type": "array", "items": {"type": "string", **agent_env_name}},
                    {
                        "type": "object",
                        "propertyNames": agent_env_name,
                        "additionalProperties": env_value,
                    },
                ]
            },
            "skills": {"type": "array", "items": {"type": "string"}},
            "claude_setup": {
                "type": "array",
                "description": "Parts of your ~/.claude copied in: CLAUDE.md, commands, agents, "
                "output-styles, mcp (every user MCP server) or mcp:NAME.",
                "items": {
                    "type": "string",
                    "pattern": r"^(CLAUDE\.md|commands|agents|output-styles|mcp|mcp:.+)$",
                },
            },
            "ssh": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["Host"],
                    "properties": {
                        "Host": _WORD,
                        "HostName": _WORD,
                        "User": _WORD,
                        "Port": {"type": "integer", "minimum": 1, "maximum": 65535},
                        "IdentityFile": {"type": "string", "pattern": r"^\S+$"},
                        "inject": {
                            "type": "boolean",
                            "default": True,
                            "description": "true: the egress sidecar's ssh-agent holds the key and the "
                            "agent signs through it; false: the key file is copied into the bottle.",
                        },
                    },
                },
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "claude-bottle manifest",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "$schema": {"type": "string"},
            "bottles": {
                "type": "object",
                "propertyNames": {"pattern": _NAME},
                "additionalProperties": bottle,
            },
            "agents": {
                "type": "object",
                "propertyNames": {"pattern": _NAME},
                "additionalProperties": agent,
            },
        },
    }
