"""The product's CLI on the test cluster, as users run it (a real process, the
engine chosen by CLAUDE_BOTTLE_ENGINE): a trivial run, the proxy's wall, the
real `claude -p` answered by the lab's Messages API, work coming back as a
branch, interactive `start` under a pseudo-terminal ended by Ctrl-C, `stop`
from another process, and kill -9 followed by the watchdog or `cleanup`;
after each, nothing of the session is left in the namespace."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

import claude_bottle.tracking.labels as L
from claude_bottle.engine.k8s import meta
from claude_bottle.engine.kubernetes import KubernetesEngine
from claude_bottle.plan.subnets import SHARED_EGRESS
from tests.canaries import search
from tests.conftest import trust_manifest, wait_for
from tests.installed import cli_argv, cli_path

CASE_LABEL = "dev.claude-bottle-test.case"
KINDS = ("container", "network", "other")
LAB_ANSWER = "hello from the lab model"  # what the lab's Messages API answers (tests/sidecar/lab/server.js)
# The answer as Claude Code's screen draws it: its words placed by cursor moves.
LAB_ANSWER_ON_SCREEN = r"hello(?:\x1b\[\d*G| )from(?:\x1b\[\d*G| )the(?:\x1b\[\d*G| )lab(?:\x1b\[\d*G| )model"


def converse(child: pexpect.spawn, attached: str) -> None:
    """`start` under a terminal, from its question to Claude Code's exit: say yes,
    see `attached`, find Claude Code's prompt (no question before it), get the
    lab model's answer on screen, and /exit."""
    child.expect(r"launch this agent\? \[y/N\] ")
    child.sendline("y")
    child.expect(attached)
    index = child.expect(["bypass permissions on", "use this API key", "Select login method"])
    assert index == 0, child.before
    child.send("say hello")
    child.send("\r")
    child.expect(LAB_ANSWER_ON_SCREEN)
    child.send("/exit")
    child.expect("exit")
    child.send("\r")


# Internal names the lab's DNS answers with a cloud metadata address each (scripts/setup/cluster/lab.sh).
METADATA_NAMES = ("metadata.lab.test", "ecs.lab.test", "alibaba.lab.test", "wireserver.lab.test")


def manifest(lab_ca: str) -> dict[str, Any]:
    """The lab's web server stands in for the internet (a public address), so its
    names are ordinary allowed hosts; private.lab.test is a lab server at a private
    address, an internal host, and so are names of the metadata addresses.
    `coder` reaches the lab's Messages API over HTTPS, trusting the lab's certificate."""
    internal = ["private.lab.test", *METADATA_NAMES]
    allow = ["allowed.test", "api.lab.test", "git.lab.test", "git.allowed.test"]
    model = {"ANTHROPIC_BASE_URL": "https://api.lab.test", "ANTHROPIC_API_KEY": {"from_env": "LAB_API_KEY"}}
    return {
        "bottles": {"lab": {"egress": {"allow": allow, "internal": internal}}},
        "agents": {
            "worker": {"bottle": "lab"},
            # Every credential the sidecar holds: the model's, git's over HTTPS, an ssh key.
            "holder": {
                "bottle": "lab",
                "env": {**model, "GITHUB_TOKEN": {"from_env": "LAB_GIT_TOKEN", "inject": "git.lab.test"}},
                "ssh": [{"Host": "git.allowed.test", "User": "git", "IdentityFile": "~/.ssh/id_lab"}],
            },
            "subscriber": {"bottle": "lab", "env": {"ANTHROPIC_BASE_URL": "https://api.lab.test"}},
            "coder": {
                "bottle": "lab",
                "env": {
                    "ANTHROPIC_BASE_URL": "https://api.lab.test",
                    "ANTHROPIC_AUTH_TOKEN": "lab-token",
                    "LAB_CA": lab_ca,
                    "NODE_EXTRA_CA_CERTS": "/home/node/lab-ca.pem",
                },
            },
        },
    }


class Project:
    """A folder with a trusted manifest, and the environment the CLI runs in there."""

    def __init__(self, folder: Path, namespace: str, lab_ca: str, sidecar_image: str) -> None:
        self.folder = folder
        self.label = f"{CASE_LABEL}={secrets.token_hex(4)}"
        self.env = {
            **os.environ,
            "CLAUDE_BOTTLE_ENGINE": "kubernetes",
            "CLAUDE_BOTTLE_SIDECAR_IMAGE": sidecar_image,
            "CLAUDE_BOTTLE_K8S_NAMESPACE": namespace,
            "CLAUDE_BOTTLE_LABELS": self.label,
            "XDG_STATE_HOME": str(folder.parent / "state"),
            "XDG_DATA_HOME": str(folder.parent / "data"),
        }
        (folder / "claude-bottle.json").write_text(json.dumps(manifest(lab_ca)))
        saved = os.environ.get("XDG_STATE_HOME")
        os.environ["XDG_STATE_HOME"] = self.env["XDG_STATE_HOME"]
        try:
            trust_manifest(folder / "claude-bottle.json")
        finally:
            if saved is not None:
                os.environ["XDG_STATE_HOME"] = saved

    def argv(self, *args: str) -> list[str]:
        return cli_argv(*args)

    def write_manifest(self, data: dict[str, Any]) -> None:
        """A changed manifest, trusted again (as its user would)."""
        (self.folder / "claude-bottle.json").write_text(json.dumps(data))
        saved = os.environ.get("XDG_STATE_HOME")
        os.environ["XDG_STATE_HOME"] = self.env["XDG_STATE_HOME"]
        try:
            trust_manifest(self.folder / "claude-bottle.json")
        finally:
            if saved is not None:
                os.environ["XDG_STATE_HOME"] = saved

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), cwd=self.folder, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)  # fmt: skip

    def spawn_under_terminal(self, *args: str) -> pexpect.spawn:
        """The CLI as a user runs it: in a session of its own with a pseudo-terminal."""
        return pexpect.spawn(cli_path(), [*args], cwd=str(self.folder),
                             env=self.env, encoding="utf-8", timeout=60, dimensions=(40, 120))  # fmt: skip

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), cwd=self.folder, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip


def objects(engine: KubernetesEngine, project: Project) -> list[str]:
    """What this test's sessions have in the namespace (pods, secrets, policies)."""
    return sorted(f"{f.kind} {f.name}" for f in engine.find([project.label], kinds=KINDS))


@pytest.fixture(scope="module", autouse=True)
def shared_egress_network(engine: KubernetesEngine) -> Iterator[None]:
    """The egress network `run` makes is long-lived by design; the test namespace is
    shared with the engine tests, which want it empty, so it goes at the end if made here."""
    existed = engine.network_exists(SHARED_EGRESS)
    yield
    if not existed and engine.network_exists(SHARED_EGRESS):
        engine.remove_network(SHARED_EGRESS)


@pytest.fixture
def project(
    engine: KubernetesEngine, namespace: str, lab: dict[str, str], sidecar_image: str, tmp_path: Path
) -> Iterator[Project]:
    folder = tmp_path / "project"
    folder.mkdir()
    lab_ca = (Path(lab["CLAUDE_BOTTLE_K8S_DIR"]) / "lab" / "cert.pem").read_text()
    proj = Project(folder, namespace, lab_ca, sidecar_image)
    yield proj
    deadline = time.monotonic() + 30
    while objects(engine, proj) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert objects(engine, proj) == []


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def test_a_dry_run_names_kubernetes_its_context_and_namespace(
    engine: KubernetesEngine, project: Project, namespace: str
) -> None:
    # The CLAUDE_BOTTLE_ENGINE of a user's shell, and no other word of where to run.
    result = project.cli("start", "worker", "--dry-run")
    assert result.returncode == 0, result.stderr
    context, server = engine.cluster.context, engine.cluster.configuration.host
    assert (
        f"runs on          : Kubernetes, context {context}, namespace {namespace} (API server {server})\n"
        in (result.stderr)
    )
    assert "Docker" not in result.stderr
    as_json = project.cli("start", "worker", "--dry-run", "--json")
    assert as_json.returncode == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    assert plan["engine"] == {
        "name": "kubernetes",
        "context": context,
        "endpoint": server,
        "namespace": namespace,
    }
    assert plan["image"] == "claude-bottle:latest"
    assert plan["sidecar_image"] == project.env["CLAUDE_BOTTLE_SIDECAR_IMAGE"]  # the lab-trusting Squid


def test_run_of_a_trivial_command_leaves_nothing(engine: KubernetesEngine, project: Project) -> None:
    result = project.cli("run", "worker", "--", "true")
    assert result.returncode == 0, result.stderr
    assert "its agent was removed; its sidecar and network follow in the background" in result.stderr
    # The agent's pod is gone when the CLI returns; the rest is the watchdog's
    # (the project fixture waits for it to be gone).
    agents = [f.name for f in engine.find([project.label, f"{L.ROLE}={L.ROLE_AGENT}"], kinds=KINDS)]
    assert agents == []


def test_the_proxy_lets_the_allowed_host_through_and_refuses_the_rest(
    engine: KubernetesEngine, project: Project
) -> None:
    probe = (
        'test -n "$HTTPS_PROXY" && test -n "$HTTP_PROXY" || exit 9; '
        "for h in allowed.test blocked.test; do "
        'echo "$h $(curl -sS -o /dev/null -w "%{http_code}" "http://$h/")"; done'
    )
    result = project.cli("run", "worker", "--", "sh", "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["allowed.test 200", "blocked.test 403"], result.stdout
    assert "allowed : allowed.test" in result.stderr
    assert "refused : blocked.test" in result.stderr


def test_an_internal_name_never_reaches_a_metadata_address(
    engine: KubernetesEngine, project: Project
) -> None:
    names = ("private.lab.test", *METADATA_NAMES)
    status = 'curl -s -m 5 -o /dev/null -w "%{http_code}" "http://$h/"'
    probe = f'for h in {" ".join(names)}; do echo "$h $({status})"; done'
    result = project.cli("run", "worker", "--", "sh", "-c", probe)
    assert result.returncode == 0, result.stderr
    answers = result.stdout.split("\n")[: len(names)]
    # The control: an internal host at a private address is reached (its policy opened it).
    assert answers[0] == "private.lab.test 200", result.stdout
    assert answers[1:] == [f"{name} 403" for name in METADATA_NAMES], result.stdout
    for name in METADATA_NAMES:
        assert f"{name}: metadata_address" in result.stderr


def test_the_real_claude_answers_through_the_proxy(engine: KubernetesEngine, project: Project) -> None:
    # The real Claude Code CLI in the agent pod, to the lab's Messages API over
    # HTTPS (a CONNECT tunnel through the sidecar), and its answer back on stdout.
    script = 'printf "%s" "$LAB_CA" > ~/lab-ca.pem && exec claude -p "say hello"'
    result = project.cli("run", "coder", "--", "sh", "-c", script, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == LAB_ANSWER, (result.stdout, result.stderr)
    assert "allowed : api.lab.test" in result.stderr
    assert "its agent was removed; its sidecar and network follow in the background" in result.stderr


def test_cwd_work_comes_back_as_a_branch(engine: KubernetesEngine, project: Project) -> None:
    repo = project.folder
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "user")
    git(repo, "config", "user.email", "user@example.invalid")
    (repo / "README.md").write_text("hello\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "start")
    work = (
        "set -e; cd ~/workspace; git config user.name agent; git config user.email agent@bottle.test; "
        'echo one > one.txt; git add one.txt; git commit -qm "agent commit"; echo edited >> README.md'
    )
    result = project.cli("run", "worker", "--cwd", "--", "sh", "-c", work)
    assert result.returncode == 0, result.stderr
    (branch,) = git(repo, "branch", "--list", "bottle/*", "--format=%(refname:short)").split()
    assert branch.startswith("bottle/worker/")
    assert f"work    : branch {branch} in {repo}: 2 commit(s)" in result.stderr
    log = git(repo, "log", "--format=%s", f"main..{branch}").splitlines()
    assert log == ["claude-bottle: changes left uncommitted in the bottle", "agent commit"]
    assert git(repo, "show", f"{branch}:README.md") == "hello\nedited\n"
    assert git(repo, "show", f"{branch}:one.txt") == "one\n"
    assert (repo / "README.md").read_text() == "hello\n"  # the user's tree is untouched


def test_a_host_approved_from_outside_goes_through_and_the_address_rules_stand(
    engine: KubernetesEngine, project: Project, lab: dict[str, str]
) -> None:
    # A bottle with no internal hosts: every lab name is an ordinary one (the lab's web
    # server stands in for the internet at a public address), but the lab's DNS gives
    # private.lab.test a private address and metadata.lab.test the metadata address.
    data = json.loads((project.folder / "claude-bottle.json").read_text())
    data["bottles"]["open"] = {"egress": {"allow": ["allowed.test"]}}
    data["agents"]["opener"] = {"bottle": "open"}
    project.write_manifest(data)
    proc = project.spawn("run", "opener", "--", "sh", "-c", "echo ready; exec sleep 300")

    def status(url: str) -> str:
        return project.cli("shell", "opener", "--", "curl", "-s", "-m", "10", "-o", "/dev/null",
                           "-w", "%{http_code}", url).stdout  # fmt: skip

    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        assert status("http://later.test/") == "403"
        approved = project.cli("allow", "opener", "later.test")
        assert approved.returncode == 0, approved.stderr
        assert "allowed later.test in" in approved.stderr
        assert status("http://later.test/") == "200"  # reconfigured in the pod, at once
        for name in ("metadata.lab.test", "private.lab.test"):
            assert project.cli("allow", "opener", name).returncode == 0
            assert status(f"http://{name}/") == "403", name  # the address rules still stand
        assert status("http://allowed.test/") == "200"  # and what was allowed still is
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert re.search(r"approved: later\.test for this session, at \S+ by \S+ \(allow\)", err), err
    assert "metadata.lab.test: metadata_address" in err
    assert "private.lab.test: private_address" in err


@pytest.fixture
def waiting_session(
    engine: KubernetesEngine, project: Project
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A `run` whose agent waits: its pods, secret and policies all exist."""
    proc = project.spawn("run", "worker", "--", "sleep", "300")
    try:
        agents = wait_for(
            lambda: engine.find(
                [project.label, f"{L.ROLE}={L.ROLE_AGENT}"], kinds=("container",), running=True
            ),
            60,
            "the agent pod to run",
            poll=0.2,
        )
        yield proc, agents[0].labels[L.SESSION]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_kill_9_is_cleaned_up_by_the_session_watchdog(
    engine: KubernetesEngine, project: Project, waiting_session: tuple[subprocess.Popen[str], str]
) -> None:
    proc, _ = waiting_session
    assert objects(engine, project) != []
    proc.kill()
    proc.wait()
    wait_for(lambda: objects(engine, project) == [], 60, "the watchdog to remove the session", poll=0.2)


def test_ps_then_stop_from_another_process_ends_the_session(
    engine: KubernetesEngine, project: Project, waiting_session: tuple[subprocess.Popen[str], str]
) -> None:
    proc, session = waiting_session
    listed = project.cli("ps", "--json")
    assert listed.returncode == 0, listed.stderr
    (bottle,) = [b for b in json.loads(listed.stdout) if b["session"] == session]
    assert (bottle["agent"], bottle["bottle"]) == ("worker", "lab")
    # By container name: the session is this test's, whatever else runs in the namespace.
    stopped = project.cli("stop", bottle["container"])
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped 1 session(s)" in stopped.stderr
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted (SIGTERM); everything this session made was removed" in err
    assert "Traceback" not in err
    assert objects(engine, project) == []


def orphan_the_secrets(engine: KubernetesEngine, project: Project) -> None:
    """Delete the session's pods but not what they own: as if the CLI died after
    making a Secret and before the pod that owns it."""
    orphan = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "gracePeriodSeconds": 0,
        "propagationPolicy": "Orphan",
    }
    for found in engine.find([project.label], kinds=("container",)):
        engine.cluster.request(
            "DELETE", engine.cluster.path("pods", meta.object_name(found.name)), body=orphan
        )
    wait_for(lambda: not engine.find([project.label], kinds=("container",)), 30, "the pods to go", poll=0.2)


def test_kill_9_of_cli_and_watchdog_then_cleanup(
    engine: KubernetesEngine, project: Project, waiting_session: tuple[subprocess.Popen[str], str]
) -> None:
    proc, session = waiting_session
    watchdog = subprocess.run(
        ["pgrep", "-f", f"claude_bottle.bottle.reaper {session}"], capture_output=True, text=True
    ).stdout.split()
    assert len(watchdog) == 1
    os.kill(int(watchdog[0]), signal.SIGKILL)
    proc.kill()
    proc.wait()
    orphan_the_secrets(engine, project)
    left = objects(engine, project)
    assert any(o.startswith("other secrets/") for o in left), left  # the Secret outlived its pod
    result = project.cli("cleanup", "--label", project.label)
    assert result.returncode == 0, result.stderr
    assert f"removed session {session}" in result.stderr
    wait_for(lambda: objects(engine, project) == [], 30, "cleanup's removals to finish", poll=0.2)


def test_start_under_a_terminal_then_ctrl_c_leaves_nothing(
    engine: KubernetesEngine, project: Project
) -> None:
    child = project.spawn_under_terminal("start", "coder")
    child.logfile_read = transcript = io.StringIO()
    try:
        child.expect(r"launch this agent\? \[y/N\] ")
        child.sendline("y")
        child.expect("attaching interactive claude session")
        child.expect("bypass permissions on")  # the real Claude Code's interactive screen
        running = engine.find([project.label], kinds=("container",), running=True)
        assert sorted(f.labels[L.ROLE] for f in running) == [L.ROLE_AGENT, L.ROLE_SIDECAR]
        # A terminal's Ctrl-C reaches the whole foreground process group; the
        # terminal is raw while attached, so the signal is sent as a terminal would.
        os.killpg(child.pid, signal.SIGINT)
        child.expect(r"ended after \d+s; everything it made was removed", timeout=60)
        child.expect(r"interrupted \(SIGINT\); everything this session made was removed")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130
    assert "Traceback" not in transcript.getvalue(), transcript.getvalue()
    assert objects(engine, project) == []


def lab_log(lab: dict[str, str], path: str) -> list[dict[str, Any]]:
    """What the lab's web server saw at `path` (its headers, by request)."""
    log = Path(lab["CLAUDE_BOTTLE_K8S_DIR"]) / "lab" / "logs" / "web.log"
    events = [json.loads(line) for line in log.read_text().split("\n") if line.startswith("{")]
    return [e.get("headers", {}) for e in events if str(e.get("url", "")).startswith(path)]


@pytest.fixture
def held(project: Project, lab: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The session's secrets in the CLI's environment, and an ssh key in its home."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / ".ssh" / "id_lab")], check=True
    )
    values = {
        "LAB_API_KEY": "sk-ant-api03-" + secrets.token_hex(20),
        "CLAUDE_BOTTLE_OAUTH_TOKEN": "sk-ant-oat01-" + secrets.token_hex(20),
        "LAB_GIT_TOKEN": (Path(lab["CLAUDE_BOTTLE_K8S_DIR"]) / "lab" / "git-token").read_text().strip(),
    }
    project.env.update(values, HOME=str(home))
    return values


def test_the_sidecar_holds_every_credential_on_the_cluster(
    engine: KubernetesEngine, project: Project, lab: dict[str, str], held: dict[str, str]
) -> None:
    """The issue-22 checks on Kubernetes: the model's key, the git token and the
    ssh key are held by the sidecar pod (its Secret); inside the agent's pod a
    search finds none of them; the lab receives the real ones; the key signs
    through the agent socket; an attacker's key to the model host is refused."""
    home = Path(project.env["HOME"])
    key_line = (home / ".ssh" / "id_lab").read_text().splitlines()[1]
    mark = secrets.token_hex(4)
    script = (
        'claude -p "say hello" && '
        "git clone -q https://git.lab.test/repo.git /tmp/https && cat /tmp/https/README && "
        f"cd /tmp/https && echo {mark} > pushed && git add pushed && "
        "git -c user.name=a -c user.email=a@a.test commit -qm pushed && "
        f"git push -q origin HEAD:refs/heads/{mark} && cd / && "
        # The key signs through the socket relayed to the sidecar's ssh-agent.
        "ssh-add -L > /tmp/key.pub && echo signed > /tmp/msg && "
        "ssh-keygen -q -Y sign -f /tmp/key.pub -n lab /tmp/msg && cat /tmp/msg.sig && "
        "ls ~/.ssh | sed 's/^/ssh-dir=/' && "
        "curl -s -o /dev/null -w 'attacker=%{http_code}\\n' -H 'x-api-key: sk-ant-api03-attacker' "
        "http://api.lab.test/v1/files; " + search([*held.values(), key_line])
    )
    result = project.cli("run", "holder", "--", "sh", "-c", script, timeout=240)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"{LAB_ANSWER}\nlab repository over https\n"), out
    assert "found=[]" in out.splitlines(), out
    assert "control=/tmp/seeded" in out.splitlines()
    assert "attacker=403" in out.splitlines()
    in_ssh = [line.removeprefix("ssh-dir=") for line in out.splitlines() if line.startswith("ssh-dir=")]
    assert "id_bottle_0_id_lab.pub" in in_ssh, in_ssh  # the public half alone
    assert not [name for name in in_ssh if name.startswith("id_") and not name.endswith(".pub")], in_ssh
    # The signature is the held key's.
    signature = out[
        out.index("-----BEGIN SSH SIGNATURE-----") : out.index("-----END SSH SIGNATURE-----") + 29
    ]
    signers = home / "signers"
    signers.write_text("lab@bottle " + (home / ".ssh" / "id_lab.pub").read_text())
    (home / "msg.sig").write_text(signature + "\n")
    verify = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "lab@bottle", "-n", "lab",
         "-s", str(home / "msg.sig")],
        input="signed\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert {h.get("x-api-key") for h in lab_log(lab, "/v1/messages")} >= {held["LAB_API_KEY"]}
    assert [h.get("x-api-key") for h in lab_log(lab, "/v1/files")] == []  # the attacker's never left
    assert "api.lab.test: credential_host" in result.stderr, result.stderr
    pushed = subprocess.run(
        ["git", "--git-dir", str(Path(lab["CLAUDE_BOTTLE_K8S_DIR"]) / "lab" / "git" / "repo.git"),
         "rev-parse", "--verify", mark], capture_output=True, check=False,
    )  # fmt: skip
    assert pushed.returncode == 0


@pytest.mark.parametrize(("agent", "header"), [("holder", "x-api-key"), ("subscriber", "authorization")])
def test_start_on_the_cluster_reaches_the_prompt_with_no_question_and_answers(
    engine: KubernetesEngine,
    project: Project,
    lab: dict[str, str],
    held: dict[str, str],
    agent: str,
    header: str,
) -> None:
    child = project.spawn_under_terminal("start", agent)
    child.timeout = 120
    try:
        converse(child, "attaching interactive claude session")
        # An orderly end hands the sidecar and network to the watchdog (the
        # project fixture waits for them to go).
        child.expect(r"ended after \d+s; its agent was removed; its sidecar and network follow", timeout=60)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    value = held["LAB_API_KEY"] if header == "x-api-key" else f"Bearer {held['CLAUDE_BOTTLE_OAUTH_TOKEN']}"
    assert {h.get(header) for h in lab_log(lab, "/v1/messages")} >= {value}
