"""Rendering a launch plan for people (the preflight plan) and scripts (--json)."""

from __future__ import annotations

import json
from typing import Any

from claude_bottle.manifest.claude_setup import SetupItem
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.plan.subnets import SHARED_EGRESS


def _prompt_facts(prompt: str) -> tuple[int, str]:
    first = next((line for line in prompt.splitlines() if line.strip()), "")
    return len(prompt), first


def plan_fields(plan: LaunchPlan) -> list[tuple[str, str]]:
    size, first = _prompt_facts(plan.agent.prompt)
    runtime = plan.bottle.runtime + (" (gVisor)" if plan.bottle.runtime == "runsc" else "")
    lim = plan.bottle.limits
    rows = [
        ("manifest", plan.manifest_source),
        ("runs on", plan.target.describe()),
        ("agent", plan.agent.name),
        ("image", plan.image),
    ]
    if plan.cwd is not None:
        rows.append(("cwd", f"{plan.cwd} -> {plan.workspace} (copied in; work comes back as a git branch)"))
    rows += [
        (
            "container",
            plan.container + (" (pinned by CLAUDE_BOTTLE_CONTAINER)" if plan.container_pinned else ""),
        ),
        ("env (names only)", ", ".join(plan.env_names) or "(none)"),
        ("sign-in", plan.sign_in.description),
        *_secret_rows(plan),
        ("skills", " ".join(s.name for s in plan.skills) or "(none)"),
        ("claude setup", ", ".join(item.text for item in plan.claude_setup) or "(none)"),
        ("bottle", plan.bottle.name),
        ("  runtime", runtime),
        ("  ssh hosts", ", ".join(e.host for e in plan.ssh) or "(none)"),
        ("  egress", plan.egress_summary()),
        ("  egress proxy", plan.proxy_summary()),
        ("  egress network", _egress_network(plan)),
        ("  limits", f"memory {lim.memory}, cpus {lim.cpus:g}, pids {lim.pids}, disk {lim.disk}"),
        ("prompt", f"{size} chars; first line: {first or '(empty)'}"),
        *(("host file", f.describe()) for f in plan.host_files),
        ("remote-control", "enabled" if plan.remote_control else "disabled"),
    ]
    if plan.command is not None:
        rows.append(("command", " ".join(plan.command)))
    if plan.start[0]:
        rows.append(("starts", ": ".join(part for part in plan.start if part)))
    return rows


def _secret_rows(plan: LaunchPlan) -> list[tuple[str, str]]:
    """Where each secret is: held by the sidecar for a host, or inside the bottle."""
    return [("secret", f"{c.name}: {c.text()}") for c in plan.credentials.custody]


def _egress_network(plan: LaunchPlan) -> str:
    if plan.egress_network:
        return plan.egress_network
    if plan.target.engine == "kubernetes":
        return (f"{SHARED_EGRESS} (NetworkPolicies: the sidecars' way out, to anywhere but the cluster's "
                "own ranges; no agent joins it)")  # fmt: skip
    return f"{SHARED_EGRESS} (a Docker network: the sidecars' way out; no agent joins it)"


def render_plan(plan: LaunchPlan) -> str:
    rows = plan_fields(plan)
    width = max(len(k) for k, _ in rows)
    lines = [f"{key.ljust(width)} : {value}" for key, value in rows]
    lines += [
        f"note: {name} is ignored (the workspace is streamed into the container; no derived image is built)"
        for name in plan.ignored_overrides
    ]
    lines += [f"warning: {text}" for text in plan.warnings]
    lines += [f"note: {note}" for note in plan.notes]
    return "\n".join(lines)


def plan_json(plan: LaunchPlan) -> dict[str, Any]:
    size, first = _prompt_facts(plan.agent.prompt)
    eg = plan.bottle.egress
    return {
        "session": plan.session_id,
        "manifest": plan.manifest_source,
        "engine": plan.target.to_json(),
        "agent": plan.agent.name,
        "image": plan.image,
        "cwd": str(plan.cwd) if plan.cwd is not None else None,
        "workspace": plan.workspace if plan.cwd is not None else None,
        "container": plan.container,
        "container_pinned": plan.container_pinned,
        "container_home": plan.container_home,
        "start": {"from": plan.start[0], "detail": plan.start[1]} if plan.start[0] else None,
        "env": [{"name": b.name, "from": b.origin} for b in plan.env],
        "skills": [{"name": s.name, "path": str(s.path)} for s in plan.skills],
        "sign_in": plan.sign_in.to_json(),
        "secrets": [c.to_json() for c in plan.credentials.custody],
        "claude_setup": [_setup_json(plan, item) for item in plan.claude_setup],
        "bottle": {
            "name": plan.bottle.name,
            "runtime": plan.bottle.runtime,
            "egress": {
                "allow": list(eg.allow),
                "internal": list(eg.internal),
                "network": plan.egress_network,
                "dlp": eg.dlp,
                "proxy": eg.proxy,
                "sni": eg.sni,
            },
            "limits": {
                "memory": plan.bottle.limits.memory,
                "cpus": plan.bottle.limits.cpus,
                "pids": plan.bottle.limits.pids,
                "disk": plan.bottle.limits.disk,
            },
        },
        "ssh_hosts": [e.host for e in plan.ssh],
        "host_files": [
            {
                "role": f.role,
                "declared": f.declared,
                "path": str(f.path),
                "where": f.where,
                "problem": f.problem,
            }
            for f in plan.host_files
        ],
        "sidecar_image": plan.sidecar_image,
        "prompt": {"chars": size, "first_line": first},
        "remote_control": plan.remote_control,
        "command": list(plan.command) if plan.command is not None else None,
        "ignored_overrides": list(plan.ignored_overrides),
        "warnings": list(plan.warnings),
        "notes": list(plan.notes),
    }


def _setup_json(plan: LaunchPlan, item: SetupItem) -> dict[str, Any]:
    out: dict[str, Any] = {
        "part": item.part,
        "from": str(item.source),
        "to": f"{plan.container_home}/{item.dest}",
    }
    if item.servers:
        out["mcp_servers"] = [
            {"name": s.name, "transport": s.transport, "target": s.target} for s in item.servers
        ]
    return out


def render_plan_json(plan: LaunchPlan) -> str:
    # allow_nan=False: the output must be JSON; validation keeps every number finite.
    return json.dumps(plan_json(plan), indent=2, allow_nan=False)
