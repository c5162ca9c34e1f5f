"""The launch plan: everything a session will do, decided before anything is made.

Building a plan reads the manifest, the options and the environment and does no
I/O beyond reading files. Rendering it (preflight, --dry-run, --json) and
applying it (launch.py) are separate. The plan never holds a secret value: env
bindings name where a value comes from, and it is read when the container is made.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from claude_bottle import agent_image
from claude_bottle.engine.api import EngineTarget
from claude_bottle.errors import ManifestError, UsageError
from claude_bottle.hostnames import host_of_url
from claude_bottle.manifest.claude_setup import SetupItem, SetupProblem, resolve_setup
from claude_bottle.manifest.host_files import HostFile, agent_host_files
from claude_bottle.manifest.model import Agent, Bottle, EnvVar, Manifest, SshEntry
from claude_bottle.paths import HostPaths
from claude_bottle.plan.credentials import Credentials, decide_credentials
from claude_bottle.plan.images import (
    agent_image_build,
    check_registry,
    planned_registry_name,
    squid_image_build,
)
from claude_bottle.plan.names import choose_container_name, session_object_name, slugify
from claude_bottle.plan.signin import SignIn, decide_sign_in
from claude_bottle.plan.subnets import DEFAULT_SUBNETS, subnet_pool
from claude_bottle.proxies import ProxyBackend, ProxySpec, backend_for
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from claude_bottle.settings import ENVIRONMENT, Settings
from claude_bottle.tracking.labels import user_labels

DEFAULT_IMAGE = agent_image.TAG
DEFAULT_HOME = agent_image.HOME
SECONDS_MAX = 86400.0  # a day: longer waits are a typo, not a plan


@dataclass(frozen=True)
class SkillSource:
    name: str
    path: Path


@dataclass(frozen=True)
class Options:
    """What the user asked for on the command line."""

    agent: str
    cwd: Path | None = None
    remote_control: bool = False
    command: tuple[str, ...] | None = None  # None: the interactive session
    interactive: bool = True


@dataclass(frozen=True)
class LaunchPlan:
    session_id: str
    manifest_source: str
    agent: Agent
    bottle: Bottle
    image: str
    container: str
    container_pinned: bool
    container_home: str
    sidecar_image: str
    egress_network: str | None  # an existing network the user named; never removed
    env: tuple[EnvVar, ...]
    skills: tuple[SkillSource, ...]
    ssh: tuple[SshEntry, ...]
    cwd: Path | None
    remote_control: bool
    command: tuple[str, ...] | None
    interactive: bool
    ignored_overrides: tuple[str, ...] = field(default=())
    extra_labels: tuple[tuple[str, str], ...] = field(default=())
    subnets: ipaddress.IPv4Network = field(default=ipaddress.IPv4Network(DEFAULT_SUBNETS))
    sidecar_timeout: float = 20.0
    claude_setup: tuple[SetupItem, ...] = field(default=())

    @property
    def sign_in(self) -> SignIn:
        """How Claude Code will sign in (by name, never the value)."""
        return decide_sign_in(self.env, self.bottle.egress.all_hosts, self.bottle.name)

    @property
    def credentials(self) -> Credentials:
        """Which credentials the sidecar holds, and where every other secret is."""
        eg = self.bottle.egress
        return decide_credentials(self.env, self.sign_in, eg.all_hosts, self.proxy.injects, self.ssh)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the user should know before launch. A command of the user's own
        (`run NAME -- COMMAND`) may not need Claude Code at all: no sign-in warning."""
        return () if self.command else self.sign_in.warnings

    notes: tuple[str, ...] = field(default=())  # adjustments the plan made, shown with it
    host_files: tuple[HostFile, ...] = field(default=())  # everything copied in from the host
    # Where the bottle runs: the engine and its endpoint, context or namespace.
    target: EngineTarget = field(default=EngineTarget("docker"))
    manifest_digest: str = ""  # sha256 of the manifest's bytes ("" for the built-in), for the record
    # Where the bottle comes from (plan/pool.py: WARM or COLD, and why); "" when not asked.
    start: tuple[str, str] = ("", "")

    def refuse_host_file_problems(self) -> None:
        """A host file the plan shows as refused stops the launch."""
        for f in self.host_files:
            if f.problem:
                raise UsageError(f"{self.manifest_source}: {f.where}: {f.path}: {f.problem}")

    def on(self, target: EngineTarget) -> LaunchPlan:
        """The same plan, on the engine found where it runs."""
        return replace(self, target=target)

    @property
    def slug(self) -> str:
        return slugify(self.agent.name)

    @property
    def workspace(self) -> str:
        return f"{self.container_home}/workspace"

    @property
    def prompt_path(self) -> str:
        return f"{self.container_home}/.claude-bottle-prompt.txt"

    @property
    def sidecar_name(self) -> str:
        return session_object_name(self.slug, self.session_id, "proxy")

    @property
    def proxy(self) -> ProxyBackend:
        return backend_for(self.bottle.egress.proxy)

    def proxy_spec(self) -> ProxySpec:
        """What the sidecar's configuration is made from (pure)."""
        eg = self.bottle.egress
        # The model endpoint must receive the agent's credentials in its headers.
        base_urls = [b.literal for b in self.env if b.name == "ANTHROPIC_BASE_URL" and b.literal]
        credential_hosts = tuple(h for url in base_urls if (h := host_of_url(url)))
        plain = tuple(h for url in base_urls if _scheme(url) == "http" and (h := host_of_url(url)))
        credentials = self.credentials
        return ProxySpec(
            allow=eg.allow,
            internal=eg.internal,
            ssh_routes=tuple(sorted({(entry.target.lower(), entry.port or 22) for entry in self.ssh})),
            dlp=eg.dlp,
            sni=eg.sni,
            credential_hosts=credential_hosts,
            plain_credential_hosts=plain,
            injections=credentials.injections,
            ssh_agent=bool(credentials.held_keys),
        )

    def network_name(self, role: str) -> str:
        return session_object_name(self.slug, self.session_id, role)

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.env)

    def egress_summary(self) -> str:
        eg = self.bottle.egress
        text = ", ".join(eg.allow) if eg.allow else "(none)"
        if eg.internal:
            text += f"; internal: {', '.join(eg.internal)}"
        return f"{len(eg.all_hosts)} host(s): {text}"

    def proxy_summary(self) -> str:
        eg = self.bottle.egress
        extras = [f"dlp {eg.dlp}", "sni check" if eg.sni else "SNI NOT CHECKED (egress.sni: false)"]
        return f"{eg.proxy} ({', '.join(extras)}; image {self.sidecar_image})"

    def claude_argv(self) -> tuple[str, ...]:
        """The interactive session's command line inside the container."""
        argv = ["claude", "--dangerously-skip-permissions"]
        if self.remote_control:
            argv.append("--remote-control")
        if self.agent.prompt:
            argv += ["--append-system-prompt-file", self.prompt_path]
        return tuple(argv)

    def exec_argv(self) -> tuple[str, ...]:
        """What runs in the container: the user's command, claude -p, or the session."""
        if self.command:
            return self.command
        if not self.interactive:
            return (*self.claude_argv(), "-p")
        return self.claude_argv()


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _resolved_env(
    manifest: Manifest, agent: Agent, environ: Mapping[str, str], settings: Settings
) -> tuple[EnvVar, ...]:
    """The agent's variables that will be set: the manifest's own (a host variable's
    only when it is set, or refused unless optional), then the sign-in token's."""
    out: list[EnvVar] = []
    for var in agent.env:
        if var.literal is not None:
            out.append(var)
            continue
        assert var.host_var is not None
        if var.host_var not in environ:
            if var.optional:
                continue
            raise ManifestError(
                manifest.source,
                f"agents.{agent.name}.env.{var.name}",
                f"needs ${var.host_var} from your environment, and it is not set "
                f'(set it, or mark the variable "optional": true)',
            )
        out.append(var)
    if settings.oauth_token:
        out.append(EnvVar("CLAUDE_CODE_OAUTH_TOKEN", host_var=ENVIRONMENT["oauth_token"]))
    return tuple(out)


def build_plan(
    manifest: Manifest,
    options: Options,
    environ: Mapping[str, str],
    session_id: str,
    taken_names: frozenset[str],
    host_cpus: int | None = None,
    disk_limit_problem: str | None = None,
    target: EngineTarget | None = None,
    settings: Settings | None = None,
    paths: HostPaths | None = None,
) -> LaunchPlan:
    """`disk_limit_problem`: why the engine cannot limit the agent's disk (the
    plan says so), as `Engine.storage_limit_problem` answered, when it was asked.
    `environ`: the host's environment the agent's variables come from;
    `settings` and `paths`: the CLI's (without them: no CLAUDE_BOTTLE_* setting,
    and the paths of `environ`)."""
    agent = manifest.agent(options.agent)
    bottle, notes = _fit_to_host(manifest.bottles[agent.bottle], host_cpus or os.cpu_count() or 1)
    if disk_limit_problem:
        notes += (
            f"no disk limit in the bottle: {disk_limit_problem}; the harvest's caps still bound what "
            "comes out",
        )
    settings = settings if settings is not None else Settings()
    paths = paths if paths is not None else HostPaths.from_environ(environ)
    pinned = settings.container
    container = choose_container_name(slugify(agent.name), taken_names, pinned)
    home = settings.container_home or DEFAULT_HOME
    if not home.startswith("/"):
        raise UsageError(f"CLAUDE_BOTTLE_CONTAINER_HOME must be an absolute path, got '{home}'")
    # Everything copied in from the host, each found once: the skills among them.
    host_files = agent_host_files(manifest, agent, paths.home)
    skills = []
    for found in (f for f in host_files if f.role == "skill"):
        if found.problem is not None:  # validated at load; the folder vanished since
            raise ManifestError(
                manifest.source, f"agents.{agent.name}.skills", f"skill '{found.declared}' not found"
            )
        skills.append(SkillSource(found.declared, found.path))
    ignored = (ENVIRONMENT["derived_image"],) if settings.derived_image else ()
    image, sidecar_image, image_notes = planned_images(settings, bottle.egress.proxy)
    return LaunchPlan(
        session_id=session_id,
        manifest_source=manifest.source,
        agent=agent,
        bottle=bottle,
        image=image,
        container=container,
        container_pinned=bool(pinned),
        container_home=home.rstrip("/") or "/",
        sidecar_image=sidecar_image,
        egress_network=settings.egress_network or bottle.egress.network,
        env=_resolved_env(manifest, agent, environ, settings),
        skills=tuple(skills),
        ssh=agent.ssh,
        cwd=options.cwd,
        remote_control=options.remote_control,
        command=options.command,
        interactive=options.interactive,
        ignored_overrides=ignored,
        extra_labels=user_labels(settings),
        subnets=subnet_pool(settings),
        sidecar_timeout=_positive_seconds(settings.sidecar_timeout, ENVIRONMENT["sidecar_timeout"], 20.0),
        claude_setup=_claude_setup(manifest, agent, bottle, paths.home),
        notes=notes + image_notes,
        host_files=host_files,
        target=target or EngineTarget(settings.engine or "docker"),
        manifest_digest=manifest.digest,
    )


def planned_images(settings: Settings, proxy: str) -> tuple[str, str, tuple[str, ...]]:
    """The agent and sidecar images a launch runs, and a note: each the one the
    user named, else, on Kubernetes with a registry, the registry's name of the
    image claude-bottle builds (as `build --push` pushes it), else the local name."""
    default_sidecar = backend_for(proxy).default_image()
    image = settings.image or DEFAULT_IMAGE
    sidecar = settings.sidecar_image or default_sidecar
    if not settings.registry:
        return image, sidecar, ()
    if settings.engine != "kubernetes":  # the Docker engine builds its own images
        return (
            image,
            sidecar,
            (f"{ENVIRONMENT['registry']} is not used: the Docker engine runs the images it builds",),
        )
    registry = check_registry(settings.registry)
    if not settings.image:
        image = planned_registry_name(registry, agent_image_build(DEFAULT_IMAGE, settings=settings))
    if not settings.sidecar_image and default_sidecar == SQUID_IMAGE:
        sidecar = planned_registry_name(registry, squid_image_build(SQUID_IMAGE, settings=settings))
    return image, sidecar, ()


def _claude_setup(manifest: Manifest, agent: Agent, bottle: Bottle, home: Path) -> tuple[SetupItem, ...]:
    try:
        return resolve_setup(agent.claude_setup, home, bottle.egress.all_hosts, bottle.name)
    except SetupProblem as exc:  # validated at load; something changed since
        raise ManifestError(manifest.source, f"agents.{agent.name}.claude_setup", str(exc)) from None


def _fit_to_host(bottle: Bottle, host_cpus: int) -> tuple[Bottle, tuple[str, ...]]:
    """The engine refuses more CPUs than the host has: cap them, and say so."""
    if bottle.limits.cpus <= host_cpus:
        return bottle, ()
    note = (
        f"cpus {bottle.limits.cpus:g} (bottles.{bottle.name}.limits.cpus) capped to this host's {host_cpus}"
    )
    return replace(bottle, limits=replace(bottle.limits, cpus=float(host_cpus))), (note,)


def _positive_seconds(raw: str | None, name: str, default: float) -> float:
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    # nan compares false with everything, so "not > 0" also refuses it.
    if not (math.isfinite(value) and 0 < value <= SECONDS_MAX):
        raise UsageError(f"{name} must be a positive number of seconds up to {SECONDS_MAX:g}, got '{raw}'")
    return value
