"""The manifest (claude-bottle.json): parsed into frozen dataclasses, validated with
one clear message per problem naming the file, the JSON path and what was expected."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from claude_bottle.errors import ManifestError
from claude_bottle.hostenv import refused_env_name
from claude_bottle.hostnames import any_host_matches, host_pattern_problem
from claude_bottle.manifest.claude_setup import SetupProblem, resolve_part
from claude_bottle.manifest.model import (
    DLP_MODES,
    PROXIES,
    RESERVED_ENV,
    RUNTIMES,
    Agent,
    Bottle,
    Egress,
    EnvVar,
    Limits,
    Manifest,
    SshEntry,
)
from claude_bottle.manifest.skills import find_skill
from claude_bottle.paths import user_home
from claude_bottle.safe_read import (
    ENV_LITERAL_MAX,
    MANIFEST_MAX,
    PROMPT_MAX,
    HostFileProblem,
    inside,
    reached,
    read_capped,
    size_text,
)

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MEMORY_RE = re.compile(r"^([0-9]{1,16})([bkmgBKMG]?)$")
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
MEMORY_MIN = 6 << 20  # the engine refuses less than 6 MB; 0 would mean "no limit"
MEMORY_MAX = 1 << 50  # 1 PiB: far above any machine, far below the engine's int64
DISK_MIN = 1 << 30  # the image and a workspace need more; less is a typo
CPUS_MIN = 0.01  # the engine's --cpus resolution
PIDS_MIN = 64
PIDS_MAX = 4_194_304  # the kernel's own ceiling for pid_max
MAX_DEPTH = 20  # a manifest needs 5 levels; deeper JSON is refused before decoding


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

    def mapping(self, value: object, path: str) -> dict[str, Any]:
        """An object whose keys are names chosen by the user (agents, bottles)."""
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {_type_name(value)}")
        return value

    def obj(self, value: object, path: str, keys: tuple[str, ...]) -> dict[str, Any]:
        """An object with a fixed set of keys (a set lookup: linear in the object's size)."""
        found = self.mapping(value, path)
        allowed = frozenset(keys)
        for key in found:
            if key not in allowed:
                raise self.fail(_join(path, key), f"unknown key (expected one of: {', '.join(keys)})")
        return found

    def string(self, value: object, path: str, what: str = "a string") -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected {what}, got {_type_name(value)}")
        return value

    def strings(self, value: object, path: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected an array of strings, got {_type_name(value)}")
        for i, v in enumerate(value):
            if not isinstance(v, str):  # the item's path is built only for the message
                self.string(v, f"{path}[{i}]")
        return value

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


def parse_manifest(
    data: object, source: str, base_dir: Path, may_hold_nul: bool = True, home: Path | None = None
) -> Manifest:
    """`home`: the user's, where ~/.claude skills and setup are looked up (the
    CLI passes its HostPaths'; None: the running user's)."""
    home = home or user_home()
    r = _Reader(source)
    if may_hold_nul:
        _refuse_nul(r, data)
    top = r.obj(data, "", ("$schema", "bottles", "agents"))
    if "$schema" in top:
        r.string(top["$schema"], "$schema")
    bottles_raw = r.mapping(top.get("bottles", {}), "bottles")
    agents_raw = r.mapping(top.get("agents", {}), "agents")
    bottles = {
        r.name(name, f"bottles.{name}"): _parse_bottle(r, name, raw) for name, raw in bottles_raw.items()
    }
    agents = {
        r.name(name, f"agents.{name}"): _parse_agent(r, name, raw, base_dir, bottles, home)
        for name, raw in agents_raw.items()
    }
    return Manifest(source=source, base_dir=base_dir, bottles=bottles, agents=agents)


def _refuse_nul(r: _Reader, data: object) -> None:
    """No NUL in any key or string: no file name, argument or variable can hold one."""
    todo: list[tuple[object, str]] = [(data, "")]
    while todo:
        value, path = todo.pop()
        if isinstance(value, str):
            if "\0" in value:
                raise r.fail(path, "contains a NUL character (\\u0000), which no value here may hold")
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\0" in key:
                    raise r.fail(path, "a key contains a NUL character (\\u0000)")
                todo.append((item, _join(path, key)))
        elif isinstance(value, list):
            todo.extend((item, f"{path}[{i}]") for i, item in enumerate(value))


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
    sni = r.boolean(e.get("sni", True), f"{path}.sni")
    return Egress(
        allow=allow, internal=internal, network=network,
        dlp=dlp, proxy=proxy, sni=sni,  # type: ignore[arg-type]
    )  # fmt: skip


def memory_bytes(text: str) -> int | None:
    """Bytes meant by a size like "8g" (the engine's units: powers of 1024), or None."""
    m = _MEMORY_RE.match(text)
    if not m:
        return None
    return int(m.group(1)) * _MEMORY_UNITS[m.group(2).lower()]


def _parse_limits(r: _Reader, path: str, raw: object) -> Limits:
    lim = r.obj(raw, path, ("memory", "cpus", "pids", "disk"))
    default = Limits()
    memory = r.string(lim.get("memory", default.memory), f"{path}.memory")
    size = memory_bytes(memory)
    if size is None:
        raise r.fail(f"{path}.memory", f'expected a size like "8g" or "512m", got \'{memory}\'')
    if size < MEMORY_MIN:
        raise r.fail(
            f"{path}.memory",
            f"expected at least \"6m\" (the engine's minimum; 0 would remove the limit), got '{memory}'",
        )
    if size > MEMORY_MAX:
        raise r.fail(f"{path}.memory", f"expected at most \"1048576g\", got '{memory}'")
    cpus = lim.get("cpus", default.cpus)
    if (
        isinstance(cpus, bool)
        or not isinstance(cpus, int | float)
        or not math.isfinite(cpus)
        or not cpus >= CPUS_MIN
    ):
        raise r.fail(f"{path}.cpus", f"expected a number of at least 0.01, got {_json_text(cpus)}")
    pids = lim.get("pids", default.pids)
    if isinstance(pids, bool) or not isinstance(pids, int) or not PIDS_MIN <= pids <= PIDS_MAX:
        raise r.fail(
            f"{path}.pids",
            f"expected a whole number from {PIDS_MIN} to {PIDS_MAX}, got {_json_text(pids)}",
        )
    disk = r.string(lim.get("disk", default.disk), f"{path}.disk")
    disk_size = memory_bytes(disk)
    if disk_size is None or not DISK_MIN <= disk_size <= MEMORY_MAX:
        raise r.fail(f"{path}.disk", f'expected a size from "1g" to "1048576g", got \'{disk}\'')
    return Limits(memory=memory.lower(), cpus=float(cpus), pids=pids, disk=disk.lower())


def _json_text(value: object) -> str:
    """A value for a message; floats JSON cannot hold (NaN, Infinity) spelled plainly."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_agent(
    r: _Reader, name: str, raw: object, base_dir: Path, bottles: Mapping[str, Bottle], home: Path
) -> Agent:
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
    # Absent keys cost nothing: validation must stay fast for 200,000 agents.
    skills = tuple(r.strings(a["skills"], f"{path}.skills")) if "skills" in a else ()
    for i, skill in enumerate(skills):
        if find_skill(skill, base_dir, home) is None:
            raise r.fail(
                f"{path}.skills[{i}]",
                f"skill '{skill}' not found (a folder holding SKILL.md in "
                f"{base_dir}/.claude/skills, {base_dir}/skills or ~/.claude/skills)",
            )
    ssh = (
        tuple(
            _parse_ssh(r, f"{path}.ssh[{i}]", entry, bottle)
            for i, entry in enumerate(_array(r, a["ssh"], f"{path}.ssh"))
        )
        if "ssh" in a
        else ()
    )
    prompt, prompt_file = _parse_prompt(r, path, a, base_dir)
    return Agent(
        name=name,
        bottle=bottle_name,
        prompt=prompt,
        env=_parse_env(r, f"{path}.env", a["env"], bottle) if "env" in a else (),
        skills=tuple(dict.fromkeys(skills)),
        ssh=ssh,
        claude_setup=_parse_claude_setup(r, f"{path}.claude_setup", a.get("claude_setup", []), bottle, home),
        prompt_file=prompt_file,
        prompt_file_name=a["prompt_file"] if prompt_file is not None else "",
    )


def _parse_claude_setup(r: _Reader, path: str, raw: object, bottle: Bottle, home: Path) -> tuple[str, ...]:
    parts = r.strings(raw, path)
    for i, part in enumerate(parts):
        try:
            resolve_part(part, home, bottle.egress.all_hosts, bottle.name)
        except SetupProblem as exc:
            raise r.fail(f"{path}[{i}]", str(exc)) from None
    return tuple(dict.fromkeys(parts))


def _array(r: _Reader, value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise r.fail(path, f"expected an array, got {_type_name(value)}")
    return value


def _parse_prompt(r: _Reader, path: str, a: dict[str, Any], base_dir: Path) -> tuple[str, Path | None]:
    if "prompt" in a and "prompt_file" in a:
        raise r.fail(f"{path}.prompt_file", "give either 'prompt' or 'prompt_file', not both")
    if "prompt_file" in a:
        where = f"{path}.prompt_file"
        rel = r.string(a["prompt_file"], where, "a file path")
        folder = base_dir.resolve()
        # Symlinks resolved first: a committed link to /etc/shadow is outside too.
        file = (folder / rel).resolve()
        if not inside(file, folder):
            raise r.fail(
                where,
                f"'{rel}' resolves to {file}, outside the manifest's folder {folder} "
                "(a prompt file must be inside it)",
            )
        try:
            return read_capped(file, PROMPT_MAX).decode("utf-8"), file
        except HostFileProblem as exc:
            raise r.fail(where, str(exc)) from None
        except UnicodeDecodeError:
            raise r.fail(where, f"{file} is not UTF-8 text") from None
    prompt = r.string(a.get("prompt", ""), f"{path}.prompt")
    if len(prompt) > PROMPT_MAX:
        raise r.fail(f"{path}.prompt", f"is longer than {size_text(PROMPT_MAX)}")
    return prompt, None


def _parse_env(r: _Reader, path: str, raw: object, bottle: Bottle) -> tuple[EnvVar, ...]:
    if isinstance(raw, list):
        names = r.strings(raw, path)
        return tuple(_env_var(r, f"{path}[{i}]", n, None, bottle) for i, n in enumerate(names))
    if isinstance(raw, dict):
        return tuple(_env_var(r, f"{path}.{k}", k, v, bottle) for k, v in raw.items())
    raise r.fail(path, f"expected an array of names or an object, got {_type_name(raw)}")


def _env_var(r: _Reader, vpath: str, name: str, value: object, bottle: Bottle) -> EnvVar:
    """One variable; `value` None is the list form (from the host variable of that name)."""
    if not _ENV_NAME_RE.match(name):
        raise r.fail(vpath, f"'{name}' is not a valid environment variable name")
    if name in RESERVED_ENV:
        raise r.fail(vpath, f"'{name}' is set by claude-bottle itself and cannot be overridden")
    steers = refused_env_name(name)
    if steers:
        raise r.fail(vpath, f"'{name}' is refused: {steers}")
    if value is None:
        return EnvVar(name=name, host_var=name)
    if isinstance(value, str):
        if len(value) * 4 > ENV_LITERAL_MAX and len(value.encode("utf-8", "replace")) > ENV_LITERAL_MAX:
            raise r.fail(vpath, f"is longer than {size_text(ENV_LITERAL_MAX)}")
        return EnvVar(name=name, literal=value)
    spec = r.obj(value, vpath, ("from_env", "optional", "inject"))
    if "from_env" not in spec:
        raise r.fail(vpath, 'expected a string or {"from_env": "HOST_VAR"}')
    host_var = r.string(spec["from_env"], f"{vpath}.from_env", "a variable name")
    if not _ENV_NAME_RE.match(host_var):
        raise r.fail(f"{vpath}.from_env", f"'{host_var}' is not a valid environment variable name")
    optional = r.boolean(spec.get("optional", False), f"{vpath}.optional")
    inject, keep_inside = _inject(r, f"{vpath}.inject", spec.get("inject"), bottle)
    return EnvVar(name=name, host_var=host_var, optional=optional, inject=inject, keep_inside=keep_inside)


def _inject(r: _Reader, path: str, raw: object, bottle: Bottle) -> tuple[str | None, bool]:
    """`inject`: a host the sidecar adds the value for, or false to keep it inside."""
    if raw is None or raw is True:
        return None, False
    if raw is False:
        return None, True
    host = r.string(raw, path, "a host name, or false")
    problem = host_pattern_problem(host)
    if problem or host.startswith("*."):
        raise r.fail(path, f"expected one host name like 'github.com', got '{host}'")
    if not any_host_matches(host, bottle.egress.all_hosts):
        raise r.fail(path, f"host '{host}' is not allowed by bottle '{bottle.name}' egress")
    return host.lower(), False


def _parse_ssh(r: _Reader, path: str, raw: object, bottle: Bottle) -> SshEntry:
    e = r.obj(raw, path, ("Host", "HostName", "User", "Port", "IdentityFile", "inject"))
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
    if port == 80:  # a tunnel to 80 would carry plain HTTP past the proxy's URL and header checks
        raise r.fail(f"{path}.Port", "80 is plain HTTP's port: the proxy opens no tunnel to it")
    entry = SshEntry(
        host=fields["Host"],
        hostname=fields.get("HostName"),
        user=fields.get("User"),
        port=port,
        identity_file=fields.get("IdentityFile"),
        key_inside=_key_inside(r, f"{path}.inject", e.get("inject", True), "IdentityFile" in fields),
    )
    if not any_host_matches(entry.target, bottle.egress.all_hosts):
        key = "HostName" if entry.hostname else "Host"
        raise r.fail(
            f"{path}.{key}",
            f"ssh host '{entry.target}' is not allowed by bottle '{bottle.name}' egress "
            f"(add it to bottles.{bottle.name}.egress.allow)",
        )
    return entry


def _key_inside(r: _Reader, path: str, raw: object, has_key: bool) -> bool:
    """An ssh entry's `inject`: true (the default) has the sidecar's ssh-agent
    hold the key; false copies the key file into the bottle."""
    hold = r.boolean(raw, path)
    if not hold and not has_key:
        raise r.fail(path, "only an entry with an IdentityFile has a key to keep inside the bottle")
    return not hold


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # rare: only then look for which key came twice
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key '{key}'")
            seen.add(key)
    return out


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


_ESCAPE_RE = re.compile(r"\\.", re.DOTALL)
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR_RE = re.compile(r"\[\]|\{\}")
_NUL_ESCAPE_RE = re.compile(r"\\u0000", re.IGNORECASE)


def nested_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects in JSON text nest more than `limit` deep, in
    linear time and without recursion (the decoder recurses on deep input).
    Each pass removes the innermost empty pairs, so a pass still removing
    something after `limit` passes means deeper nesting."""
    # Without escapes, every other quote opens a string: keep what lies between them.
    outside = "".join(_ESCAPE_RE.sub("", text).split('"')[::2])
    brackets = _NOT_BRACKET_RE.sub("", outside)
    for _ in range(limit + 1):
        brackets, removed = _EMPTY_PAIR_RE.subn("", brackets)
        if not removed:
            return False
    return True


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Decoded JSON has no reference cycles, yet a large manifest's millions of new
    objects would set off repeated full collections (a third of the time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_manifest_bytes(raw: bytes, source: str, base_dir: Path, home: Path | None = None) -> Manifest:
    """The manifest in a file's bytes: every problem is a ManifestError."""
    if len(raw) > MANIFEST_MAX:
        raise ManifestError(source, "", f"larger than {size_text(MANIFEST_MAX)} ({len(raw)} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(source, "", f"not UTF-8 text (byte {exc.start})") from None
    if nested_deeper_than(text, MAX_DEPTH):
        raise ManifestError(source, "", f"invalid JSON: nested more than {MAX_DEPTH} levels deep")
    with _collector_paused():
        try:
            data = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise ManifestError(
                source, "", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        except (ValueError, RecursionError) as exc:
            raise ManifestError(source, "", f"invalid JSON: {exc}") from None
        # JSON text holds a NUL only as an escape; without one, no walk is needed.
        nul = _NUL_ESCAPE_RE.search(text) is not None
        manifest = parse_manifest(data, source, base_dir, may_hold_nul=nul, home=home)
    return Manifest(
        source=manifest.source,
        base_dir=manifest.base_dir,
        bottles=manifest.bottles,
        agents=manifest.agents,
        digest=hashlib.sha256(raw).hexdigest(),
    )


def load_manifest_file(file: Path, home: Path | None = None) -> Manifest:
    """The manifest in `file`, known by the path it was reached by (a link keeps
    its own place, for trust), its relative paths looked up from the folder of the
    file it leads to (a link to another folder's manifest reads that folder's files)."""
    source = str(reached(file))
    try:
        raw = read_capped(file, MANIFEST_MAX)
        real = file.resolve()
    except (HostFileProblem, OSError, RuntimeError) as exc:
        raise ManifestError(source, "", str(exc)) from None
    manifest = parse_manifest_bytes(raw, source, real.parent, home)
    return replace(manifest, real_source=str(real))
