"""Hand-written mutants of the security-critical code, each of which some test
must kill (issue 9). Every mutant is one exact text replacement, applied to a
scratch copy of the checkout (never to the working tree); the tests that should
notice run in that copy: in-process code through PYTHONPATH, and the CLI the
engine suites start as the wheel built from the copy (tests/installed.py builds
and installs it, since CLAUDE_BOTTLE_TEST_CLI is not passed on).

    python3 scripts/mutants.py            # all (engine mutants need Docker and the images)
    python3 scripts/mutants.py --fast     # only those unit tests kill (seconds)
    python3 scripts/mutants.py --only ID  # one or more by id

Before the mutants, each distinct test selection runs once unmutated and must
pass, so a "killed" is never a test that fails anyway. Exit status 1 if any
mutant survived or a baseline failed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNIT_SQUID = ("tests/unit/proxies/test_squid.py",)
# What tests/unit/test_pure_parts.py held, split by module.
UNIT_ARGV = (
    "tests/unit/bottle/test_agent.py",
    "tests/unit/bottle/test_sidecar.py",
    "tests/unit/bottle/test_floor.py",
    "tests/unit/bottle/test_ssh.py",
    "tests/unit/engine/test_docker.py",
    "tests/unit/proxies/test_pipelock.py",
)
UNIT_HOST_ENV = ("tests/unit/test_hostenv.py",)
UNIT_GIT = ("tests/unit/workspace/test_git.py",)
UNIT_TRUST = ("tests/unit/manifest/test_trust.py",)
UNIT_OUTFLOW = ("tests/unit/workspace/test_outflow.py",)
UNIT_SECRETS = ("tests/unit/test_secret_shapes.py",)
HARDENING = ("tests/engine/test_agent_container.py", "-k", "promised")
HARVEST = ("tests/engine/test_workspace.py", "-k", "malicious or commits_and_uncommitted")
RUN_LABEL = "dev.claude-bottle-test.run"  # tests/engine/conftest.py's
SIGNALS = ("tests/engine/test_workspace.py", "-k", "signals_during")
WATCHDOG = ("tests/engine/test_teardown.py", "-k", "watchdog")
REDTEAM = ("tests/sidecar/test_redteam.py",)
REDTEAM_REFUSALS = ("tests/sidecar/test_redteam.py", "-k", "look_alike or ports_other or metadata_address")
NETWORK_LAYER = ("tests/sidecar/test_redteam.py", "-k", "no_docker_socket or direct_ip")
FLOOR = ("tests/sidecar/test_floor.py",)
UNIT_SNI = ("tests/unit/manifest/test_parse.py", "tests/unit/proxies/test_squid.py")
UNIT_SUFFIX = ("tests/unit/test_public_suffix.py",)
PACKAGE_DATA = ("tests/unit/test_package_data.py",)
INSTALLED = ("tests/engine/test_install.py", "-k", "fresh_install")
CREDENTIALS = ("tests/sidecar/test_credentials.py", "-k", "nothing_inside or attacker or verifies")
UNIT_CREDENTIALS = ("tests/unit/plan/test_credentials.py",)
UNIT_APPROVAL = ("tests/unit/bottle/test_approval.py",)
UNIT_RECORD = ("tests/unit/workspace/test_record.py",)
# Not copied into a scratch checkout: history, caches, what builds leave.
NOT_COPIED = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache",
                                    ".pytest_cache", ".hypothesis", "build", "dist", ".venv")  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # under src/claude_bottle/, or under the checkout's root when `in_root`
    old: str
    new: str
    tests: tuple[str, ...]
    every_test_fails: bool = False  # killed only if no selected test passes
    in_root: bool = False

    def target(self, checkout: Path) -> Path:
        return checkout / self.file if self.in_root else checkout / "src" / "claude_bottle" / self.file

    @property
    def engine(self) -> bool:
        return self.tests[0].startswith(("tests/engine", "tests/sidecar"))


CAP_DROP = '"--cap-drop", "ALL",'
NO_NEW_PRIVILEGES = '"--security-opt", "no-new-privileges",'
ENGINE_HARDENING = (
    '"--cap-drop", "ALL",\n        *(arg for cap in spec.cap_add for arg in ("--cap-add", cap)),\n'
    '        "--security-opt", "no-new-privileges",'
)
MUTANTS = (
    # Squid's configuration (the wall's rules).
    Mutant("squid-allow-dstdomain-without-n", "proxies/squid.py",
           'lines.append(_acl("allowed_hosts", "dstdomain -n", allowed))',
           'lines.append(_acl("allowed_hosts", "dstdomain", allowed))', UNIT_SQUID),
    Mutant("squid-internal-dstdomain-without-n", "proxies/squid.py",
           'lines.append(_acl("internal_hosts", "dstdomain -n", internal))',
           'lines.append(_acl("internal_hosts", "dstdomain", internal))', UNIT_SQUID),
    Mutant("squid-host-rule-after-dst-rules", "proxies/squid.py",
           '        f"http_access deny{not_listed} why_host" if not_listed'
           ' else "http_access deny all why_host",\n',
           "", UNIT_SQUID),
    Mutant("squid-metadata-after-internal-allow", "proxies/squid.py",
           '        "http_access deny metadata_dst why_meta",\n'
           '        "http_access deny never_dst why_private",\n'
           '    ]\n    if internal:\n        rules.append("http_access allow internal_hosts")\n',
           '    ]\n    if internal:\n        rules.append("http_access allow internal_hosts")\n'
           '    rules += ["http_access deny metadata_dst why_meta",'
           ' "http_access deny never_dst why_private"]\n',
           UNIT_SQUID),
    Mutant("squid-connect-to-80", "proxies/squid.py",
           '"acl https_port port 443",', '"acl https_port port 80 443",', UNIT_SQUID),
    Mutant("squid-ssh-port-to-any-host", "proxies/squid.py",
           '*(f"http_access deny ssh_listener ssh_port_{p} !ssh_hosts_{p} why_port"'
           ' for p in spec.ssh_ports),',
           "", UNIT_SQUID),
    Mutant("squid-dlp-rules-dropped", "proxies/squid.py",
           'return [f"http_access deny {acl}{cond} why_dlp" for acl, cond in matches]', "return []",
           UNIT_SQUID),
    Mutant("squid-sni-splices-everything", "proxies/squid.py",
           '"ssl_bump splice sni_allowed",', '"ssl_bump splice all",', UNIT_SQUID),
    Mutant("squid-sni-rules-never-rendered", "proxies/squid.py",
           "*(_sni_lines(allowed, internal) if spec.sni else []),", "*([]),", UNIT_SQUID),
    Mutant("sni-off-by-default", "manifest/parse.py",
           'sni = r.boolean(e.get("sni", True), f"{path}.sni")',
           'sni = r.boolean(e.get("sni", False), f"{path}.sni")', UNIT_SNI),
    # The one list of never-reachable and private addresses (addresses.py).
    Mutant("private-range-dropped", "addresses.py", '"10.0.0.0/8", ', "", UNIT_SQUID),
    Mutant("cgnat-range-dropped", "addresses.py", '"100.64.0.0/10", ', "", UNIT_SQUID),
    Mutant("azure-wireserver-dropped", "addresses.py", '    "168.63.129.16/32",  # Azure WireServer\n', "",
           UNIT_SQUID),
    Mutant("public-suffix-wildcards-allowed", "hostnames.py",
           'suffix = suffix_under(name) if entry.startswith("*.") else None', "suffix = None", UNIT_SUFFIX),
    # The floor under every proxy, and Pipelock's log read back.
    Mutant("floor-metadata-rule-dropped", "bottle/floor.py",
           '    metadata = "\\n".join(f"-A OUTPUT -d {r} -p tcp -j {REFUSE}"'
           ' for r in _ranges(addresses.METADATA))',
           '    metadata = ""', UNIT_ARGV),
    Mutant("floor-never-list-dropped", "bottle/floor.py",
           '    never = "\\n".join(f"-A OUTPUT -d {r} -p tcp -j {REFUSE}" for r in _ranges(addresses.NEVER))',
           '    never = ""', UNIT_ARGV),
    Mutant("floor-every-tcp-port-accepted", "bottle/floor.py",
           "-A OUTPUT -p tcp -m multiport --dports {ports} -j ACCEPT",
           "-A OUTPUT -p tcp -j ACCEPT", UNIT_ARGV),
    Mutant("pipelock-floor-refusals-read-as-allowed", "proxies/pipelock.py",
           "    if FLOOR_REFUSED in error:", "    if False:", ("tests/unit/proxies/test_events.py",)),
    # The containers' hardening: the Docker engine's translation of every container spec
    # (agent, sidecar, port guard), read by the unit tests and found on a running bottle.
    Mutant("engine-without-hardening-unit", "engine/docker/argv.py", ENGINE_HARDENING,
           '*(arg for cap in spec.cap_add for arg in ("--cap-add", cap)),', UNIT_ARGV),
    Mutant("engine-without-cap-drop", "engine/docker/argv.py", CAP_DROP, "", HARDENING),
    Mutant("engine-without-no-new-privileges", "engine/docker/argv.py", NO_NEW_PRIVILEGES, "", HARDENING),
    Mutant("squid-root-writable", "proxies/squid.py", "read_only=True,", "read_only=False,", HARDENING),
    Mutant("engine-without-cap-drop-unit", "engine/docker/argv.py", CAP_DROP, "", UNIT_ARGV),
    Mutant("engine-without-no-new-privileges-unit", "engine/docker/argv.py", NO_NEW_PRIVILEGES, "",
           UNIT_ARGV),
    Mutant("engine-without-pids-limit", "engine/docker/argv.py", '"--pids-limit", str(lim.pids),', "",
           UNIT_ARGV),
    # Redaction of env values in a failed engine call's message.
    Mutant("redaction-removed", "errors.py", 'arg = arg.split("=", 1)[0] + "=<redacted>"', "pass", UNIT_ARGV),
    # Harvest: objects and one ref only, checked by fsck.
    Mutant("harvest-without-fsck", "workspace/git.py",
           '("-c", "transfer.fsckObjects=true", "fetch",', '("fetch",',
           HARVEST),
    Mutant("harvest-fetch-straight-from-the-bundle", "workspace/git.py",
           'return git(*fetch, str(checked), f"{bundle_ref}:{ref}", repo=repo, check=False)',
           'return git(*fetch, str(bundle), f"{bundle_ref}:{ref}", repo=repo, check=False)', HARVEST),
    Mutant("harvest-writes-fetch-head", "workspace/git.py",
           '"--quiet", "--no-tags", "--no-write-fetch-head")',
           '"--quiet", "--no-tags")', HARVEST),
    Mutant("harvest-bundle-inside-dot-git", "workspace/harvest.py",
           "bundle = store.path / f\"{branch.replace('/', '_')}.bundle\"",
           "bundle = source.folder / \".git\" / f\"{branch.replace('/', '_')}.bundle\"", HARVEST),
    # Issue 20: nothing a repository ships steers the host.
    Mutant("docker-client-inherits-the-environment", "engine/docker/runner.py",
           "return {**docker_env(os.environ, registry=registry), **self.pins, **(extra or {})}",
           "return {**os.environ, **self.pins, **(extra or {})}", UNIT_HOST_ENV),
    Mutant("docker-client-given-values-in-its-environment", "engine/docker/resources.py",
           "own = {k: values[k] for k in spec.secret_env if k.startswith(OWN_PREFIX)}",
           "own = {k: values[k] for k in spec.secret_env}", UNIT_HOST_ENV),
    Mutant("manifest-names-not-refused", "manifest/parse.py",
           "steers = refused_env_name(name)", "steers = None", UNIT_HOST_ENV),
    Mutant("git-runs-the-folder-s-fsmonitor", "workspace/git.py",
           '    "core.fsmonitor=false",\n', "", UNIT_GIT),
    Mutant("tree-bomb-not-counted", "workspace/git.py",
           "if changes_more_paths(checked, bundle_ref, base):", "if False:", UNIT_GIT),
    Mutant("trust-pins-the-manifest-alone", "manifest/trust.py",
           "    for agent in manifest.agents.values():\n        if agent.prompt_file is not None:",
           "    for agent in ():\n        if agent.prompt_file is not None:", UNIT_TRUST),
    Mutant("trust-follows-the-link", "manifest/trust.py",
           "return not inside(Path(manifest.source), own)",
           "return not inside(Path(manifest.real_source or manifest.source), own)", UNIT_TRUST),
    Mutant("identity-need-not-be-a-key", "safe_read.py",
           "return private_key_problem(read_capped(path, IDENTITY_MAX))", "return None", UNIT_TRUST),
    Mutant("harvest-keeps-version-control", "workspace/outflow.py",
           "            return part\n", "            return None\n", UNIT_OUTFLOW),
    Mutant("harvest-lands-dense", "workspace/outflow.py",
           "out.seek(len(chunk), 1)", "out.write(chunk)", UNIT_OUTFLOW),
    Mutant("ignore-file-read-through-links", "workspace/source.py",
           "read_capped_text(file, IGNORE_FILE_MAX, follow_links=False)",
           "read_capped_text(file, IGNORE_FILE_MAX)", UNIT_OUTFLOW),
    Mutant("secret-shaped-host-shown", "proxies/events.py",
           'object.__setattr__(self, "host", redact_secrets(self.host))', "pass", UNIT_SECRETS),
    # Teardown: the watchdog and the signal shield.
    Mutant("watchdog-told-clean-after-a-failed-teardown", "bottle/reaper.py",
           "            if exc_type is None:\n"
           "                self.proc.stdin.write(FINISH if self.finishing else CLEAN)",
           "            if True:\n                self.proc.stdin.write(CLEAN)", WATCHDOG),
    Mutant("watchdog-not-told-to-finish-an-orderly-end", "bottle/reaper.py",
           "self.proc.stdin.write(FINISH if self.finishing else CLEAN)",
           "self.proc.stdin.write(CLEAN)", WATCHDOG),
    Mutant("teardown-shield-removed", "session/signals.py",
           'return SignalLatch(announce="still removing what this session made")',
           'return SignalLatch.__new__(SignalLatch) if False else __import__("contextlib").nullcontext()',
           SIGNALS),
    # What a user installs: the wheel without data/squid/ (the package-data rule of
    # before issue 19). The unit tests read the built wheel; an installed CLI fails.
    Mutant("package-data-without-squid", "pyproject.toml", '"data/**/*"', '"data/*"', PACKAGE_DATA,
           in_root=True),
    Mutant("package-data-without-squid-installed", "pyproject.toml", '"data/**/*"', '"data/*"', INSTALLED,
           in_root=True),
    # The wall's layers under the proxy, each killed by the red team (engine), not only by unit tests:
    # the bottle's network routed out, a host address on its bridge, and the floor under the proxy.
    # `--internal` alone is not visible from inside a bottle: its network keeps no host
    # address (inhibit_ipv4), so the default route Docker gives it leads nowhere, and the
    # agent has no NET_RAW to address a frame past that. The engine test that reads the
    # network back kills it; the red team cannot, and the README says so.
    Mutant("docker-network-not-internal", "engine/docker/argv.py",
           '*(("--internal",) if spec.internal else ()),', "", HARDENING),
    Mutant("docker-bridge-has-a-host-address", "engine/docker/argv.py",
           '*(("--opt", f"{INHIBIT_IPV4}=true") if spec.internal else ()),', "", NETWORK_LAYER),
    Mutant("bottle-network-not-internal", "bottle/network.py",
           "NetworkSpec(self.name, self.labels, internal=True, subnet=subnet)",
           "NetworkSpec(self.name, self.labels, internal=False, subnet=subnet)", NETWORK_LAYER),
    Mutant("floor-removed", "bottle/floor.py",
           "if not engine.capabilities.shared_namespaces or internal_subnet is None:", "if True:", FLOOR),
    # A proxy that lets everything through while the bottle runs (its readiness probe still
    # answered as a healthy Squid answers it): the red team's refusals must fail.
    Mutant("squid-allows-everything", "proxies/squid.py",
           '    rules = [\n        "http_access deny manager why_admin",',
           '    rules = [\n        "acl mutant_ready dstdomain claude-bottle-ready.invalid",\n'
           '        "http_access deny mutant_ready",\n        "http_access allow all",\n'
           '        "http_access deny manager why_admin",', REDTEAM_REFUSALS),
    # Credentials held by the sidecar (issue 22).
    Mutant("agent-header-not-dropped", "proxies/squid.py",
           '    lines += [f"request_header_access {header} deny inject_ports" for header in REPLACED]\n', "",
           CREDENTIALS),
    Mutant("held-host-reachable-by-connect", "proxies/squid.py",
           '["http_access allow inject_ports", "http_access deny injected_hosts why_credential"]',
           '["http_access allow inject_ports"]', CREDENTIALS),
    Mutant("credentials-not-included", "proxies/squid.py",
           '    lines.append(f"include {CREDENTIALS_FILE}")\n', "", CREDENTIALS),
    Mutant("held-host-not-verified", "proxies/squid.py",
           'tls = " tls" if i.scheme == "https" else ""',
           'tls = " tls tls-flags=DONT_VERIFY_PEER" if i.scheme == "https" else ""', CREDENTIALS),
    Mutant("held-value-passed-in", "bottle/agent.py",
           "    held = {*plan.credentials.placeholders, *plan.credentials.left_out}",
           "    held: set[str] = set()", UNIT_CREDENTIALS),
    Mutant("ssh-key-copied-in", "bottle/ssh.py",
           "        if i in held:", "        if False:", UNIT_CREDENTIALS),
    # Approving a host while the bottle runs: by the allowlist's rules, and every approval kept.
    Mutant("approval-as-internal-host", "proxies/base.py",
           "return replace(self, allow=tuple(dict.fromkeys(self.allow + hosts)))",
           "return replace(self, internal=tuple(dict.fromkeys(self.internal + hosts)))", UNIT_APPROVAL),
    Mutant("approval-forgets-earlier-approvals", "bottle/approval.py",
           "spec = started.spec.approving((*earlier, host))", "spec = started.spec.approving((host,))",
           UNIT_APPROVAL),
    # The session's record: its chain and its hashes are checked.
    Mutant("record-chain-unchecked", "workspace/record.py",
           'if entry.get("prev") != prev:', "if False:", UNIT_RECORD),
    Mutant("record-hash-unchecked", "workspace/record.py",
           'if entry_hash(entry) != entry["hash"]:', "if False:", UNIT_RECORD),
    # `run` that starts nothing: every red-team case must fail.
    Mutant("run-starts-nothing", "cli/commands/run.py",
           "    return launch_command(\n"
           "        plan, engine, args.settings, args.paths, summary=not args.quiet,"
           " timings=args.timings\n    )",
           "    return 0", REDTEAM, every_test_fails=True),
)  # fmt: skip


def pytest(checkout: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    engine = tests[0].startswith(("tests/engine", "tests/sidecar"))
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *(("-m", "engine") if engine else ()),
    ]
    run = secrets.token_hex(4)
    env = {k: v for k, v in os.environ.items() if k != "CLAUDE_BOTTLE_TEST_CLI"}
    # The copy's own wheel (built by the tests' first CLI), cached under the copy.
    env |= {
        "PYTHONPATH": str(checkout / "src"),
        "CLAUDE_BOTTLE_TEST_RUN": run,
        "TMPDIR": str(checkout.parent),
    }
    try:
        return subprocess.run(
            [*argv, *tests], cwd=checkout, env=env, capture_output=True, text=True, check=False
        )
    finally:
        if engine:
            # A mutant may leave what its tests made (a watchdog told "clean" removes
            # nothing): the unmutated tool removes it, now that its owners are gone.
            cleanup = [sys.executable, "-m", "claude_bottle", "cleanup", "--label", f"{RUN_LABEL}={run}"]
            subprocess.run(cleanup, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                           capture_output=True, check=False)  # fmt: skip


def summary_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else result.stderr.strip()[-200:]


def killed(mutant: Mutant, result: subprocess.CompletedProcess[str]) -> bool:
    if mutant.every_test_fails:
        return result.returncode == 1 and " passed" not in summary_line(result)
    return result.returncode == 1  # 1: tests failed (not a usage or collection error)


def stale(mutants: list[Mutant] | tuple[Mutant, ...]) -> list[str]:
    """The mutants whose text is not in their file exactly once (the code moved on)."""
    found = []
    for mutant in mutants:
        count = mutant.target(ROOT).read_text().count(mutant.old)
        if count != 1:
            found.append(f"STALE    {mutant.id}: the text to replace is in {mutant.file} {count} times")
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast", action="store_true", help="only the mutants unit tests kill")
    parser.add_argument("--only", nargs="+", metavar="ID", help="only these mutants")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if (not args.fast or not m.engine) and (not args.only or m.id in args.only)]
    if args.only and len(chosen) != len(set(args.only)):
        parser.error(f"unknown id among {args.only}; known: {', '.join(m.id for m in MUTANTS)}")
    # Every mutant, the engine ones too, must still apply: a stale one is an error
    # even in a --fast run (it would otherwise go unnoticed until a full run).
    problems = stale(MUTANTS)
    for line in problems:
        print(line)
    if problems:
        return 1
    failures = 0
    with tempfile.TemporaryDirectory(prefix="claude-bottle-mutants-") as tmp:
        clean = Path(tmp) / "clean" / "checkout"
        shutil.copytree(ROOT, clean, ignore=NOT_COPIED)
        for tests in dict.fromkeys(m.tests for m in chosen):
            base = pytest(clean, tests)
            ok = base.returncode == 0
            failures += not ok
            print(f"baseline {'pass' if ok else 'FAIL'}: {' '.join(tests)}: {summary_line(base)}", flush=True)
        survivors = []
        for mutant in chosen:
            scratch = Path(tmp) / mutant.id / "checkout"
            shutil.copytree(ROOT, scratch, ignore=NOT_COPIED)
            target = mutant.target(scratch)
            target.write_text(target.read_text().replace(mutant.old, mutant.new))
            started = time.monotonic()
            result = pytest(scratch, mutant.tests)
            verdict = "killed" if killed(mutant, result) else "SURVIVED"
            if verdict == "SURVIVED":
                survivors.append(mutant.id)
            print(
                f"{verdict:8} {mutant.id} ({time.monotonic() - started:.0f}s): {summary_line(result)}",
                flush=True,
            )
    print(
        f"{len(chosen) - len(survivors)} of {len(chosen)} mutants killed"
        + (f"; survived: {survivors}" if survivors else "")
    )
    return 1 if survivors or failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
