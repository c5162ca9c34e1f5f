"""The environment of every program the CLI starts on this machine, and the names a
manifest may not give its agent.

Each host tool (the docker client, git, tar, ssh-keygen, the watchdog) gets an
environment built here from an explicit allowlist of the user's own variables:
never this process's environment whole, and never a name or a value a manifest
chose (the agent's values reach the engine by a channel of their own: see
engine/docker/envfile.py). The allowlists are the variables each tool needs to find its
programs, its configuration and its engine.

A manifest may not name a variable that steers a tool on this machine or the
agent's start (`refused_env_name`): what the docker client, git, ssh, shells, the
dynamic loader, node (Claude Code) and claude-bottle itself read. Every name the
docker client's environment can hold is among them, so no manifest name can ever
reach it (tests/unit/test_hostenv.py holds this with Hypothesis). The README's
manifest reference lists them ("Refused variable names").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from claude_bottle.settings import ENVIRONMENT, Settings

# The user's own variables each tool is given, by exact name or by prefix.
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy",
            "all_proxy")  # fmt: skip
_LOCALE_PREFIXES = ("LC_",)
_LOCALE = ("LANG", "LANGUAGE")

# The docker client: its engine (DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG and
# TLS settings are the user's own), ssh for an ssh:// engine, a proxy for a tcp://
# one, and its builders' settings. No locale: the client prints English.
DOCKER_NAMES = ("PATH", "HOME", "SSH_AUTH_SOCK", *_PROXIES)
DOCKER_PREFIXES = ("DOCKER_", "BUILDKIT_", "BUILDX_")
# A registry call (build, push, pull) may start the user's docker credential
# helper, which finds its store through these (secretservice, pass, ECR, gcloud).
REGISTRY_NAMES = ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "GNUPGHOME", "GPG_TTY", "PASSWORD_STORE_DIR",
                  "GOOGLE_APPLICATION_CREDENTIALS")  # fmt: skip
REGISTRY_PREFIXES = ("AWS_", "CLOUDSDK_", "AZURE_")
# git: its global configuration (~/.gitconfig or $XDG_CONFIG_HOME/git/config) and
# the locale of its messages. No GIT_* at all: GIT_DIR, GIT_CONFIG_* and the rest
# would move the tool's own calls elsewhere.
GIT_NAMES = ("PATH", "HOME", "XDG_CONFIG_HOME", "TMPDIR", "TZ", *_LOCALE)
# tar and ssh-keygen: programs and the locale (no TAR_OPTIONS).
PLAIN_NAMES = ("PATH", "HOME", *_LOCALE)
# The watchdog: Python finding claude_bottle, and whatever its engine needs
# (the docker client's, or the Kubernetes client's configuration).
WATCHDOG_NAMES = ("PATH", "HOME", "TMPDIR", "PYTHONPATH", "PYTHONHOME", "KUBECONFIG", "SSH_AUTH_SOCK",
                  *_PROXIES, *_LOCALE)  # fmt: skip
WATCHDOG_PREFIXES = ("DOCKER_", "CLAUDE_BOTTLE_", "KUBERNETES_", *_LOCALE_PREFIXES)


def allowlisted(
    environ: Mapping[str, str], names: Iterable[str], prefixes: Iterable[str] = ()
) -> dict[str, str]:
    """The variables of `environ` named in `names` or starting with one of `prefixes` (pure)."""
    wanted, starts = frozenset(names), tuple(prefixes)
    return {k: v for k, v in environ.items() if k in wanted or (starts and k.startswith(starts))}


def docker_env(environ: Mapping[str, str], *, registry: bool = False) -> dict[str, str]:
    """What the docker client is given (pure)."""
    if registry:
        return allowlisted(environ, (*DOCKER_NAMES, *REGISTRY_NAMES), (*DOCKER_PREFIXES, *REGISTRY_PREFIXES))
    return allowlisted(environ, DOCKER_NAMES, DOCKER_PREFIXES)


def git_env(environ: Mapping[str, str]) -> dict[str, str]:
    return allowlisted(environ, GIT_NAMES, _LOCALE_PREFIXES)


def plain_env(environ: Mapping[str, str]) -> dict[str, str]:
    """For tar and ssh-keygen."""
    return allowlisted(environ, PLAIN_NAMES, _LOCALE_PREFIXES)


def watchdog_env(environ: Mapping[str, str], settings: Settings | None = None) -> dict[str, str]:
    """The watchdog's environment: the host's, allowlisted, with the CLI's
    --verbose and --engine as the settings they stand for."""
    env = allowlisted(environ, WATCHDOG_NAMES, WATCHDOG_PREFIXES)
    if settings is not None and settings.verbose:
        env[ENVIRONMENT["verbose"]] = "1"
    if settings is not None and settings.engine:
        env[ENVIRONMENT["engine"]] = settings.engine
    return env


# --- Names a manifest may not give its agent ------------------------------------------

# (names, prefixes, who reads them): the first rule that matches explains the refusal.
_REFUSED: tuple[tuple[frozenset[str], tuple[str, ...], str], ...] = (
    (frozenset({"PATH"}), (), "every program on this machine and in the bottle finds others by it"),
    (
        frozenset(),
        ("DOCKER_", "BUILDKIT_", "BUILDX_"),
        "the docker client reads DOCKER_*, BUILDKIT_* and BUILDX_*",
    ),
    (
        frozenset({"GCONV_PATH", "LOCPATH", "HOSTALIASES"}),
        ("LD_", "DYLD_"),
        "the dynamic loader and the C library read LD_*, DYLD_*, GCONV_PATH, LOCPATH and HOSTALIASES",
    ),
    (frozenset(), ("SSH_",), "ssh reads SSH_*"),
    (frozenset(), ("CLAUDE_BOTTLE_",), "claude-bottle reads CLAUDE_BOTTLE_* itself"),
    (
        frozenset({"NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE"}),
        (),
        "node (Claude Code) loads code named by NODE_OPTIONS, NODE_PATH and NODE_REPL_EXTERNAL_MODULE",
    ),
    (
        frozenset(
            {"SHELL", "CLAUDE_CODE_SHELL", "CLAUDE_CODE_SHELL_PREFIX", "CLAUDE_ENV_FILE", "CLAUDE_CONFIG_DIR"}
        ),
        (),
        "Claude Code runs every command through SHELL, CLAUDE_CODE_SHELL, CLAUDE_CODE_SHELL_PREFIX and "
        "CLAUDE_ENV_FILE, and reads its setup from CLAUDE_CONFIG_DIR",
    ),
    (
        frozenset({"BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND"}),
        (),
        "shells run code named by BASH_ENV, ENV, SHELLOPTS, BASHOPTS, PS4 and PROMPT_COMMAND",
    ),
)
# git: every GIT_* name moves git's repository, configuration or programs (GIT_DIR,
# GIT_CONFIG_*, GIT_SSH_COMMAND, GIT_EXEC_PATH, ...) but those naming a commit's author.
GIT_ALLOWED = frozenset({
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE", "GIT_TERMINAL_PROMPT",
})  # fmt: skip


def refused_names_pattern() -> str:
    """One regular expression matching every refused name, for the manifest's JSON
    Schema (ECMAScript syntax, as JSON Schema's patterns are; pure)."""
    names = sorted(n for names, _, _ in _REFUSED for n in names)
    prefixes = sorted(p for _, prefixes, _ in _REFUSED for p in prefixes)
    allowed_git = "|".join(sorted(n.removeprefix("GIT_") for n in GIT_ALLOWED))
    choices = [*names, *(f"{p}.*" for p in prefixes), f"GIT_(?!(?:{allowed_git})$).*"]
    return f"^(?:{'|'.join(choices)})$"


def refused_env_name(name: str) -> str | None:
    """Why a manifest may not set `name` for its agent, or None when it may (pure)."""
    for names, prefixes, why in _REFUSED:
        if name in names or (prefixes and name.startswith(prefixes)):
            return why
    if name.startswith("GIT_") and name not in GIT_ALLOWED:
        return "git reads GIT_* (all but GIT_AUTHOR_*, GIT_COMMITTER_* and GIT_TERMINAL_PROMPT)"
    return None
