"""Egress proxy backends: Squid (the default) and Pipelock (optional)."""

from __future__ import annotations

from claude_bottle.proxies.base import ProxyBackend, ProxySpec
from claude_bottle.proxies.pipelock import PipelockBackend
from claude_bottle.proxies.squid import SquidBackend

BACKENDS: dict[str, ProxyBackend] = {"squid": SquidBackend(), "pipelock": PipelockBackend()}


def backend_for(name: str) -> ProxyBackend:
    return BACKENDS[name]


__all__ = ["BACKENDS", "ProxyBackend", "ProxySpec", "backend_for"]
