"""The manifest (claude-bottle.json): parsed into frozen dataclasses, validated with
one clear message per problem naming the file, the JSON path and what was expected."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from claude_bottle.claude_setup import SetupProblem, resolve_part
from claude_bottle.errors import ManifestError
from claude_bottle.hosts import any_host_matches, host_pattern_problem
from claude_bottle.skills import find_skill

RUNTIMES = ("runc", "runsc")
DLP_MODES = ("block", "warn", "off")
PROXIES = ("squid", "pipelock")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MEMORY_RE = re.compile(r"^[0-9]+[kmgKMG]?$")
# Variables the launcher sets itself; a manifest that set them would break the
# agent's route to its proxy or its login, so they are refused up front.
RESERVED_ENV = frozenset(
    {
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "HOME",
    }
)


@dataclass(frozen=True)
class EnvVar:
    """One variable for the agent. `literal` is None when the value comes from the host."""

    name: str
    literal: str | None = None
    host_var: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class SshEntry:
    host: str
    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None

    @property
    def target(self) -> str:
        """The name ssh actually connects to."""
        return self.hostname or self.host


@dataclass(frozen=True)
class Egress:
    allow: tuple[str, ...]
    internal: tuple[str, ...] = ()
    network: str | None = None
    dlp: Literal["block", "warn", "off"] = "block"
    proxy: Literal["squid", "pipelock"] = "squid"
    sni: bool = False

    @property
    def all_hosts(self) -> tuple[str, ...]:
        return self.allow + tuple(h for h in self.internal if h not in self.allow)


@dataclass(frozen=True)
class Limits:
    memory: str = "8g"
    cpus: float = 2.0
    pids: int = 1024


@dataclass(frozen=True)
class Bottle:
    name: str
    egress: Egress
    runtime: Literal["runc", "runsc"] = "runc"
    limits: Limits = Limits()


@dataclass(frozen=True)
class Agent:
    name: str
    bottle: str
    prompt: str = ""
    env: tuple[EnvVar, ...] = ()
    skills: tuple[str, ...] = ()
    ssh: tuple[SshEntry, ...] = ()
    claude_setup: tuple[str, ...] = ()  # parts of the user's ~/.claude to copy in


@dataclass(frozen=True)
class Manifest:
    source: str
    base_dir: Path
    bottles: Mapping[str, Bottle]
    agents: Mapping[str, Agent]

    def agent(self, name: str) -> Agent:
        try:
            return self.agents[name]
        except KeyError:
            known = ", ".join(sorted(self.agents)) or "(none)"
            raise ManifestError(self.source, "agents", f"no agent named '{name}' (agents: {known})") from None


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


class _Reader:
    """Walks the decoded JSON, tracking the JSON path for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> ManifestError:
        return ManifestError(self.source, path, message)

    def obj(self, value: object, path: str, keys: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {_type_name(value)}")
        for key in value:
            if key not in keys:
                raise self.fail(_join(path, key), f"unknown key (expected one of: {', '.join(keys)})")
        return value

    def string(self, value: object, path: str, what: str = "a string") -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected {what}, got {_type_name(value)}")
        return value

    def strings(self, value: object, path: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected an array of strings, got {_type_name(value)}")
        return [self.string(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"expected true or false, got {_type_name(value)}")
        return value

    def name(self, value: str, path: str) -> str:
        if not _NAME_RE.match(value):
            raise self.fail(path, f"'{value}' is not a valid name (letters, digits, '_', '.', '-')")
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_manifest(data: object, source: str, base_dir: Path) -> Manifest:
    r = _Reader(source)
    top = r.obj(data, "", ("$schema", "bottles", "agents"))
    bottles_raw = r.obj(top.get("bottles", {}), "bottles", tuple(top.get("bottles", {}) or ()))
    agents_raw = r.obj(top.get("agents", {}), "agents", tuple(top.get("agents", {}) or ()))
    bottles = {
        r.name(name, f"bottles.{name}"): _parse_bottle(r, name, raw) for name, raw in bottles_raw.items()
    }
    agents = {
        r.name(name, f"agents.{name}"): _parse_agent(r, name, raw, base_dir, bottles)
        for name, raw in agents_raw.items()
    }
    return Manifest(source=source, base_dir=base_dir, bottles=bottles, agents=agents)


def _parse_bottle(r: _Reader, name: str, raw: object) -> Bottle:
    path = f"bottles.{name}"
    b = r.obj(raw, path, ("description", "runtime", "egress", "limits"))
    if "description" in b:
        r.string(b["description"], f"{path}.description")
    runtime = r.string(b.get("runtime", "runc"), f"{path}.runtime")
    if runtime not in RUNTIMES:
        raise r.fail(f"{path}.runtime", f'expected "runc" or "runsc" (gVisor), got \'{runtime}\'')
    if "egress" not in b:
        raise r.fail(path, "missing 'egress' (an object with an 'allow' list of host names)")
    return Bottle(
        name=name,
        runtime="runsc" if runtime == "runsc" else "runc",
        egress=_parse_egress(r, f"{path}.egress", b["egress"]),
        limits=_parse_limits(r, f"{path}.limits", b.get("limits", {})),
    )


def _hosts(r: _Reader, value: object, path: str) -> tuple[str, ...]:
    entries = r.strings(value, path)
    for i, entry in enumerate(entries):
        problem = host_pattern_problem(entry)
        if problem:
            raise r.fail(
                f"{path}[{i}]",
                f"expected a host name like 'example.com' or '*.example.com', got '{entry}' ({problem})",
            )
    return tuple(dict.fromkeys(e.lower() for e in entries))


def _parse_egress(r: _Reader, path: str, raw: object) -> Egress:
    e = r.obj(raw, path, ("allow", "internal", "network", "dlp", "proxy", "sni"))
    if "allow" not in e:
        raise r.fail(path, "missing 'allow' (an array of host names)")
    allow = _hosts(r, e["allow"], f"{path}.allow")
    internal = _hosts(r, e.get("internal", []), f"{path}.internal")
    if not allow and not internal:
        raise r.fail(f"{path}.allow", "is empty: a bottle needs at least one host (the agent's API host)")
    network = e.get("network")
    if network is not None:
        network = r.string(network, f"{path}.network", "a network name")
    dlp = r.string(e.get("dlp", "block"), f"{path}.dlp")
    if dlp not in DLP_MODES:
        raise r.fail(f"{path}.dlp", f'expected "block", "warn" or "off", got \'{dlp}\'')
    proxy = r.string(e.get("proxy", "squid"), f"{path}.proxy")
    if proxy not in PROXIES:
        raise r.fail(f"{path}.proxy", f'expected "squid" or "pipelock", got \'{proxy}\'')
    sni = r.boolean(e.get("sni", False), f"{path}.sni")
    return Egress(
        allow=allow, internal=internal, network=network,
        dlp=dlp, proxy=proxy, sni=sni,  # type: ignore[arg-type]
    )  # fmt: skip


def _parse_limits(r: _Reader, path: str, raw: object) -> Limits:
    lim = r.obj(raw, path, ("memory", "cpus", "pids"))
    default = Limits()
    memory = r.string(lim.get("memory", default.memory), f"{path}.memory")
    if not _MEMORY_RE.match(memory):
        raise r.fail(f"{path}.memory", f'expected a size like "8g" or "512m", got \'{memory}\'')
    cpus = lim.get("cpus", default.cpus)
    if isinstance(cpus, bool) or not isinstance(cpus, int | float) or cpus <= 0:
        raise r.fail(f"{path}.cpus", f"expected a positive number, got {json.dumps(cpus)}")
    pids = lim.get("pids", default.pids)
    if isinstance(pids, bool) or not isinstance(pids, int) or pids < 64:
        raise r.fail(f"{path}.pids", f"expected a whole number of at least 64, got {json.dumps(pids)}")
    return Limits(memory=memory.lower(), cpus=float(cpus), pids=pids)


def _parse_agent(r: _Reader, name: str, raw: object, base_dir: Path, bottles: Mapping[str, Bottle]) -> Agent:
    path = f"agents.{name}"
    a = r.obj(raw, path, (
        "description", "bottle", "prompt", "prompt_file", "env", "skills", "ssh", "claude_setup",
    ))  # fmt: skip
    if "description" in a:
        r.string(a["description"], f"{path}.description")
    if "bottle" not in a:
        raise r.fail(path, "missing 'bottle' (the name of a bottle under 'bottles')")
    bottle_name = r.string(a["bottle"], f"{path}.bottle", "a bottle name")
    if bottle_name not in bottles:
        known = ", ".join(sorted(bottles)) or "(none)"
        raise r.fail(f"{path}.bottle", f"no bottle named '{bottle_name}' (bottles: {known})")
    bottle = bottles[bottle_name]
    skills = tuple(r.strings(a.get("skills", []), f"{path}.skills"))
    for i, skill in enumerate(skills):
        if find_skill(skill, base_dir) is None:
            raise r.fail(
                f"{path}.skills[{i}]",
                f"skill '{skill}' not found (a folder holding SKILL.md in "
                f"{base_dir}/.claude/skills, {base_dir}/skills or ~/.claude/skills)",
            )
    ssh = tuple(
        _parse_ssh(r, f"{path}.ssh[{i}]", entry, bottle)
        for i, entry in enumerate(_array(r, a.get("ssh", []), f"{path}.ssh"))
    )
    return Agent(
        name=name,
        bottle=bottle_name,
        prompt=_parse_prompt(r, path, a, base_dir),
        env=_parse_env(r, f"{path}.env", a.get("env", [])),
        skills=tuple(dict.fromkeys(skills)),
        ssh=ssh,
        claude_setup=_parse_claude_setup(r, f"{path}.claude_setup", a.get("claude_setup", []), bottle),
    )


def _parse_claude_setup(r: _Reader, path: str, raw: object, bottle: Bottle) -> tuple[str, ...]:
    parts = r.strings(raw, path)
    for i, part in enumerate(parts):
        try:
            resolve_part(part, Path.home(), bottle.egress.all_hosts, bottle.name)
        except SetupProblem as exc:
            raise r.fail(f"{path}[{i}]", str(exc)) from None
    return tuple(dict.fromkeys(parts))


def _array(r: _Reader, value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise r.fail(path, f"expected an array, got {_type_name(value)}")
    return value


def _parse_prompt(r: _Reader, path: str, a: dict[str, Any], base_dir: Path) -> str:
    if "prompt" in a and "prompt_file" in a:
        raise r.fail(f"{path}.prompt_file", "give either 'prompt' or 'prompt_file', not both")
    if "prompt_file" in a:
        rel = r.string(a["prompt_file"], f"{path}.prompt_file", "a file path")
        file = (base_dir / Path(rel).expanduser()).resolve()
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise r.fail(f"{path}.prompt_file", f"cannot read {file}: {exc}") from None
    return r.string(a.get("prompt", ""), f"{path}.prompt")


def _parse_env(r: _Reader, path: str, raw: object) -> tuple[EnvVar, ...]:
    if isinstance(raw, list):
        names = r.strings(raw, path)
        items: list[tuple[str, object]] = [(n, {"from_env": n}) for n in names]
        paths = [f"{path}[{i}]" for i in range(len(names))]
    elif isinstance(raw, dict):
        items = list(raw.items())
        paths = [f"{path}.{k}" for k in raw]
    else:
        raise r.fail(path, f"expected an array of names or an object, got {_type_name(raw)}")
    out: list[EnvVar] = []
    for (name, value), vpath in zip(items, paths, strict=True):
        if not _ENV_NAME_RE.match(name):
            raise r.fail(vpath, f"'{name}' is not a valid environment variable name")
        if name in RESERVED_ENV:
            raise r.fail(vpath, f"'{name}' is set by claude-bottle itself and cannot be overridden")
        if isinstance(value, str):
            out.append(EnvVar(name=name, literal=value))
            continue
        spec = r.obj(value, vpath, ("from_env", "optional"))
        if "from_env" not in spec:
            raise r.fail(vpath, 'expected a string or {"from_env": "HOST_VAR"}')
        host_var = r.string(spec["from_env"], f"{vpath}.from_env", "a variable name")
        if not _ENV_NAME_RE.match(host_var):
            raise r.fail(f"{vpath}.from_env", f"'{host_var}' is not a valid environment variable name")
        optional = r.boolean(spec.get("optional", False), f"{vpath}.optional")
        out.append(EnvVar(name=name, host_var=host_var, optional=optional))
    return tuple(out)


def _parse_ssh(r: _Reader, path: str, raw: object, bottle: Bottle) -> SshEntry:
    e = r.obj(raw, path, ("Host", "HostName", "User", "Port", "IdentityFile"))
    if "Host" not in e:
        raise r.fail(path, "missing 'Host'")
    fields = {
        k: r.string(e[k], f"{path}.{k}") for k in ("Host", "HostName", "User", "IdentityFile") if k in e
    }
    for key, value in fields.items():
        if not value or any(c.isspace() for c in value) or (key != "IdentityFile" and "*" in value):
            raise r.fail(f"{path}.{key}", f"expected a single word without spaces or '*', got '{value}'")
    port = e.get("Port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise r.fail(f"{path}.Port", f"expected a port number 1-65535, got {json.dumps(port)}")
    entry = SshEntry(
        host=fields["Host"],
        hostname=fields.get("HostName"),
        user=fields.get("User"),
        port=port,
        identity_file=fields.get("IdentityFile"),
    )
    if not any_host_matches(entry.target, bottle.egress.all_hosts):
        key = "HostName" if entry.hostname else "Host"
        raise r.fail(
            f"{path}.{key}",
            f"ssh host '{entry.target}' is not allowed by bottle '{bottle.name}' egress "
            f"(add it to bottles.{bottle.name}.egress.allow)",
        )
    return entry


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key '{key}'")
        out[key] = value
    return out


def load_manifest_file(file: Path) -> Manifest:
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(source, "", f"cannot read: {exc}") from None
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            source, "", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise ManifestError(source, "", f"invalid JSON: {exc}") from None
    return parse_manifest(data, source, file.parent.resolve())
