"""Pipelock's configuration and what it refuses (pure)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from claude_bottle.proxies.base import ProxySpec
from claude_bottle.proxies.pipelock import pipelock_config, pipelock_refusal, render_pipelock_config


def test_pipelock_config_is_strict_with_our_keys_only() -> None:
    config = pipelock_config(
        ProxySpec(allow=("api.anthropic.com", "*.github.com"), internal=("git.corp.test",))
    )
    assert config["mode"] == "strict"
    assert config["api_allowlist"] == ["api.anthropic.com", "*.github.com", "git.corp.test"]
    assert config["trusted_domains"] == ["git.corp.test"]
    assert config["forward_proxy"]["enabled"] is True
    assert config["forward_proxy"]["max_tunnel_seconds"] >= 3600
    assert config["fetch_proxy"]["monitoring"]["max_requests_per_minute"] >= 10_000
    assert config["sentry"] == {"enabled": False}
    assert config["metrics_listen"].startswith("127.0.0.1:")
    assert "internal" not in config  # the private-address guard keeps its defaults
    assert "dsn" not in render_pipelock_config(ProxySpec(allow=("a.test",)))
    assert json.loads(render_pipelock_config(ProxySpec(allow=("a.test",))))["logging"]["format"] == "json"


@pytest.mark.parametrize(
    ("dlp", "enabled", "action"), [("block", True, "block"), ("warn", True, "warn"), ("off", False, "warn")]
)
def test_dlp_switch(dlp: str, enabled: bool, action: str) -> None:
    scanning = pipelock_config(ProxySpec(allow=("a.test",), dlp=dlp))["request_body_scanning"]  # type: ignore[arg-type]
    assert (scanning["enabled"], scanning["action"]) == (enabled, action)
    assert scanning["max_body_bytes"] == 5 * 1024 * 1024  # the README's limit


def test_pipelock_refuses_a_plain_http_model_endpoint_only_where_its_dlp_blocks() -> None:
    plain = ProxySpec(
        allow=("api.test",), credential_hosts=("api.test",), plain_credential_hosts=("api.test",)
    )
    problem = pipelock_refusal(plain)
    assert problem is not None
    assert problem.startswith("the model endpoint api.test (ANTHROPIC_BASE_URL) is plain HTTP, and the ")
    assert 'egress.proxy "squid"' in problem
    assert pipelock_refusal(ProxySpec(allow=("api.test",), credential_hosts=("api.test",))) is None  # https
    for dlp in ("warn", "off"):
        assert pipelock_refusal(replace(plain, dlp=dlp)) is None
