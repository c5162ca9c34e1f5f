"""The bench's bottles: `claude-bottle run` against a bare `docker run --rm` in
interleaved pairs, and N bottles held up at the same moment (a barrier) while
the host's memory is read. Every bottle started here is checked to have run
(its exit status and a token it prints); one that did not fails the bench.

Each bottle carries two labels of the bench's own (CLAUDE_BOTTLE_LABELS): the
run's and its own, so that its objects are found, and counted gone, alone."""

from __future__ import annotations

import secrets
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_host import (
    SESSION,
    EngineReader,
    bottle_processes,
    engine_daemons_pss_kb,
    kind,
    memory_kb,
    process_table,
)

IMAGE = "claude-bottle:latest"
RUN_KEY = "dev.claude-bottle-bench.run"
BOTTLE_KEY = "dev.claude-bottle-bench.bottle"
RUN_ID = secrets.token_hex(4)
AGENTS = {"runc": "bench", "runsc": "bench-gvisor"}
# An agent's container names run from claude-bottle-AGENT to -AGENT-99
# (plan/names.py), so one agent holds at most 99 bottles at once: N held at
# once are spread over two agents of the same bottle, in turn.
HELD_AGENTS = {"runc": ("bench", "bench-b"), "runsc": ("bench-gvisor", "bench-gvisor-b")}
MANIFEST = {
    "bottles": {
        "bench": {"egress": {"allow": ["allowed.test"]}},
        "bench-gvisor": {"runtime": "runsc", "egress": {"allow": ["allowed.test"]}},
    },
    "agents": {
        "bench": {"bottle": "bench"},
        "bench-b": {"bottle": "bench"},
        "bench-gvisor": {"bottle": "bench-gvisor"},
        "bench-gvisor-b": {"bottle": "bench-gvisor"},
    },
}


class BenchFailed(SystemExit):
    """A bottle (or a bare container) did not run, or left something behind."""

    def __init__(self, message: str) -> None:
        super().__init__(f"bench: FAILED: {message}")


@dataclass(frozen=True)
class Bench:
    cli: Callable[..., list[str]]  # tests.installed.cli_argv
    folder: str  # holds the trusted manifest
    env: dict[str, str]
    engine: EngineReader = field(default_factory=EngineReader)

    def bottle_env(self, name: str) -> dict[str, str]:
        return {**self.env, "CLAUDE_BOTTLE_LABELS": f"{RUN_KEY}={RUN_ID},{BOTTLE_KEY}={name}"}

    def left(self, name: str | None = None) -> list[str]:
        """This run's objects still in the engine (one bottle's, or all of them)."""
        return self.engine.objects(f"{BOTTLE_KEY}={name}" if name else f"{RUN_KEY}={RUN_ID}")


def _token() -> str:
    return f"ran-{secrets.token_hex(4)}"


def _command(token: str) -> list[str]:
    """The same command in the bare container and in the bottle: it proves it ran
    (the token) and its last act says when it ended (the host's clock: a
    container reads the same one), to time the CLI's exit against."""
    return ["sh", "-c", f"echo {token}; date +%s.%N"]


def _checked(argv: list[str], token: str, what: str, **kwargs: Any) -> tuple[float, float, str, str]:
    """Runs argv; fails the bench unless it exits 0 having printed `token`.
    Returns (seconds, the command's end on the host's clock, stdout, stderr)."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    elapsed = time.perf_counter() - start
    lines = proc.stdout.split()
    if proc.returncode != 0 or token not in lines:
        raise BenchFailed(f"{what} did not run (exit {proc.returncode}): {proc.stderr.strip()[-600:]}")
    return elapsed, float(lines[lines.index(token) + 1]), proc.stdout, proc.stderr


def _bare(runtime: str) -> float:
    token = _token()
    argv = ["docker", "run", "--rm", "--runtime", runtime, IMAGE, *_command(token)]
    return _checked(argv, token, f"a bare docker run ({runtime})")[0]


def _floor(bench: Bench, runtime: str) -> float:
    """What any bottle of this design pays at least, with nothing of claude-bottle's
    but its CLI's start: the CLI (Python and the package's imports), one container
    started detached, one `docker exec` of the command (files go in and the proxy
    must answer before it runs, so it cannot be the container's first process),
    and the container's removal. No network, no sidecar, no checks."""
    token = _token()
    start = time.perf_counter()
    subprocess.run(bench.cli("--version"), capture_output=True, check=True, cwd=bench.folder, env=bench.env)
    argv = ["docker", "run", "-d", "--label", f"{RUN_KEY}={RUN_ID}", "--runtime", runtime, "--init", IMAGE,
            "sleep", "infinity"]  # fmt: skip
    container = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    try:
        _checked(["docker", "exec", container, *_command(token)], token, "the floor's exec")
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=True)
    return time.perf_counter() - start


@dataclass(frozen=True)
class BottleRun:
    seconds: float
    to_exit: float  # the command's end to the CLI's exit
    all_removed: float  # the CLI's exit to the last of the bottle's objects gone
    phases: dict[str, float]


def _bottle(bench: Bench, runtime: str, removal_deadline: float = 30.0) -> BottleRun:
    name, token = secrets.token_hex(4), _token()
    argv = bench.cli("run", "--timings", AGENTS[runtime], "--", *_command(token))
    seconds, ended, _, err = _checked(argv, token, f"a bottle ({runtime})", cwd=bench.folder,
                                      env=bench.bottle_env(name))  # fmt: skip
    exited, gone_by = time.time(), time.monotonic()
    # The sidecar and the network are the watchdog's to remove, just after the exit.
    while left := bench.left(name):
        if time.monotonic() > gone_by + removal_deadline:
            raise BenchFailed(f"a bottle's objects were not all removed {removal_deadline:.0f} s after "
                              f"its exit: {left}")  # fmt: skip
        time.sleep(0.005)
    all_removed = time.monotonic() - gone_by
    phases = {}
    for word in err.split("timings :")[-1].split(","):
        parts = word.split()
        if len(parts) == 2 and parts[1].endswith("s"):
            phases[parts[0]] = float(parts[1].rstrip("s"))
    return BottleRun(seconds, exited - ended, all_removed, phases)


def launch_pairs(bench: Bench, pairs: int, runtime: str) -> dict[str, Any]:
    """Interleaved: a bare `docker run --rm`, the floor, a bottle, `pairs` times,
    all on `runtime` (under runsc only the agent is gVisor's; the sidecar stays
    on runc). One of each first, to warm up, not counted."""
    _bare(runtime), _bottle(bench, runtime)
    bare, floor, bottles = [], [], []
    for _ in range(pairs):
        bare.append(_bare(runtime))
        floor.append(_floor(bench, runtime))
        bottles.append(_bottle(bench, runtime))
    b = statistics.median(bare)
    c = statistics.median(r.seconds for r in bottles)
    f = statistics.median(floor)
    phases = {
        p: round(statistics.median(r.phases.get(p, 0.0) for r in bottles), 3) for p in bottles[0].phases
    }
    return {
        "runtime": runtime,
        "pairs": pairs,
        "bare_docker_run_s": round(b, 3),
        "claude_bottle_run_s": round(c, 3),
        "ratio": round(c / b, 2),
        "floor_s": round(f, 3),
        "floor_ratio": round(f / b, 2),
        "phases_median_s": phases,
        "command_end_to_exit_s": {
            "median": round(statistics.median(r.to_exit for r in bottles), 3),
            "max": round(max(r.to_exit for r in bottles), 3),
        },
        "all_removed_after_exit_s": {
            "median": round(statistics.median(r.all_removed for r in bottles), 3),
            "max": round(max(r.all_removed for r in bottles), 3),
        },
    }


def _mem_available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


class HeldBottle:
    """One bottle whose command prints its token, then waits on its standard
    input (forwarded by `run`): the barrier. `release` lets it end."""

    def __init__(self, bench: Bench, agent: str) -> None:
        self.name, self.token = secrets.token_hex(4), _token()
        script = f"echo {self.token}; read line; echo done-$line"
        argv = bench.cli("run", "-q", agent, "--", "sh", "-c", script)
        pipe = subprocess.PIPE
        self.proc = subprocess.Popen(argv, cwd=bench.folder, env=bench.bottle_env(self.name), text=True,
                                     stdin=pipe, stdout=pipe, stderr=pipe)  # fmt: skip
        self.up = False
        self.error = ""

    def wait_up(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == self.token:
                self.up = True
                return
        self.error = self._ended()

    def _ended(self) -> str:
        code = self.proc.wait()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        return f"exit {code}: {err.strip()[-400:]}"

    def release(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{self.name}\n")
            self.proc.stdin.close()
        except OSError:
            pass

    def finish(self) -> None:
        """After release: the bottle must say it went past the barrier and exit 0."""
        assert self.proc.stdout is not None
        rest = self.proc.stdout.read()
        outcome = self._ended()
        if self.up and (self.proc.returncode != 0 or f"done-{self.name}" not in rest.split()):
            self.error = f"did not end as asked ({outcome})"
        self.exited = time.monotonic()


def held_at_once(
    bench: Bench, bottles: int, runtime: str, starting: int, deadline_s: float
) -> dict[str, Any]:
    """`bottles` bottles started (at most `starting` starting at a time), all held
    up at the same moment; then the host's processes of each are read (its CLI
    and what the CLI started, its containers' shims, anything naming one of its
    containers or its session: see bench_host), all are released together, and
    the time to the last CLI's exit and to the last object gone is taken."""
    available_before = _mem_available_kb()
    daemons_before = engine_daemons_pss_kb(process_table())
    held: list[HeldBottle] = []
    gate = threading.Semaphore(starting)
    lock = threading.Lock()
    start = time.monotonic()

    def one(i: int) -> None:
        with gate:
            bottle = HeldBottle(bench, HELD_AGENTS[runtime][i % 2])
            with lock:
                held.append(bottle)
            bottle.wait_up()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(bottles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, start + deadline_s - time.monotonic()))
    all_up = time.monotonic() - start
    up = [b for b in held if b.up]
    result: dict[str, Any] = {"bottles": bottles, "runtime": runtime, "held_at_once": len(up),
                              "all_up_s": round(all_up, 1)}  # fmt: skip
    try:
        if len(up) == bottles:
            result.update(_memory_at_the_barrier(bench, up))
            result["mem_available_drop_per_bottle_mb"] = round(
                (available_before - _mem_available_kb()) / 1024 / bottles, 1
            )
            result["engine_daemons_pss_growth_mb"] = round(
                (engine_daemons_pss_kb(process_table()) - daemons_before) / 1024, 1
            )
    finally:
        released = time.monotonic()
        for b in held:
            b.release()
        for b in held:
            b.finish()
        last_exit = max((b.exited for b in held), default=released)
        while left := bench.left():
            if time.monotonic() > last_exit + 120:
                raise BenchFailed(f"{len(left)} objects left 120 s after the last of {bottles} bottles ended")
            time.sleep(0.05)
        result["release_to_last_exit_s"] = round(last_exit - released, 2)
        result["release_to_all_removed_s"] = round(time.monotonic() - released, 2)
    failed = [b.error for b in held if b.error] + ["not started in time"] * (bottles - len(held))
    if failed or len(up) < bottles:
        raise BenchFailed(f"{bottles - len(up)} of {bottles} bottles did not run or end as asked: "
                          f"{failed[:3]}")  # fmt: skip
    return result


def _memory_at_the_barrier(bench: Bench, up: list[HeldBottle]) -> dict[str, Any]:
    table = process_table()
    per_bottle: list[dict[str, tuple[int, int]]] = []
    shims, inside = [], []
    for b in up:
        containers = bench.engine.containers(f"{BOTTLE_KEY}={b.name}")
        if len(containers) < 2:
            raise BenchFailed(f"a held bottle has {len(containers)} containers, not its agent and sidecar")
        session = containers[0]["Labels"].get(SESSION, "")
        if not session:
            raise BenchFailed(f"a held bottle's containers carry no {SESSION} label")
        ids = {
            c["Id"]: tuple(
                n.get("IPAddress", "") for n in (c.get("NetworkSettings") or {}).get("Networks", {}).values()
            )
            for c in containers
        }
        procs = bottle_processes(table, b.proc.pid, session, ids)
        kinds: dict[str, tuple[int, int]] = {}
        for p in procs.host:
            rss, pss = memory_kb(p.pid)
            old = kinds.get(kind(p), (0, 0))
            kinds[kind(p)] = (old[0] + rss, old[1] + pss)
        per_bottle.append(kinds)
        shims.append(len(procs.shims()))
        inside.append(len(procs.inside))
    names = sorted({k for kinds in per_bottle for k in kinds})

    def mb(kb: float) -> float:
        return round(kb / 1024, 1)

    return {
        "host_pss_mb_per_bottle": mb(statistics.median(sum(p for _, p in k.values()) for k in per_bottle)),
        "host_rss_mb_per_bottle": mb(statistics.median(sum(r for r, _ in k.values()) for k in per_bottle)),
        "host_pss_mb_by_process": {
            n: mb(statistics.median(k.get(n, (0, 0))[1] for k in per_bottle)) for n in names
        },
        "shims_per_bottle": statistics.median(shims),
        "processes_inside_containers_per_bottle": statistics.median(inside),
    }
