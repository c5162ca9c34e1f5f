#!/usr/bin/env python3
"""Benchmarks for issue 12's targets, measured in one run on this machine:

1. launch ratio: `claude-bottle run bench -- true` against a bare
   `docker run --rm IMAGE true`, as interleaved pairs (median of --pairs),
   with the phase timings `--timings` prints;
   and the floor of any bottle of this design (the CLI's start, one container
   started detached, one exec, its removal) as a ratio to the same bare run;
2. end to exit: from the command's end to the CLI's exit (the `teardown`
   phase plus the summary), how long after the exit the watchdog has removed
   the rest, and whether anything is left 2 s after exit;
3. host memory per running bottle outside its containers: the PSS (and RSS) of
   the CLI, its watchdog and its `docker exec` client while one bottle runs,
   and while five run at once;
4. the sidecar on the wire: added latency per new connection (p50, p99) and
   100 MB downloads (HTTPS and plain HTTP), through a Squid sidecar against
   direct, from one client container to one origin container on an
   --internal network, in interleaved rounds (median of the per-round
   ratios), with Squid's CPU time per 100 MB and, beside it, the same
   download through a bare splice relay (what the extra hop alone costs).

    python3 scripts/bench.py [--pairs N] [--requests N] [--downloads N] [--json FILE] [--short]
    python3 scripts/bench.py --sidecar-only [--runtime runsc]

Needs the agent and Squid images (`claude-bottle build`). Everything runs
against containers it makes on internal networks; nothing leaves the machine,
and everything it makes is removed. No target is asserted: it prints a table
and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.installed import cli_argv

IMAGE = "claude-bottle:latest"
MANIFEST = {
    "bottles": {
        "bench": {"egress": {"allow": ["allowed.test"]}},
        "bench-gvisor": {"runtime": "runsc", "egress": {"allow": ["allowed.test"]}},
    },
    "agents": {"bench": {"bottle": "bench"}, "bench-gvisor": {"bottle": "bench-gvisor"}},
}
AGENTS = {"runc": "bench", "runsc": "bench-gvisor"}


def bottle_cmd(runtime: str = "runc") -> list[str]:
    return cli_argv("run", "--timings", AGENTS[runtime], "--")


ORIGIN_JS = r"""
const big = Buffer.alloc(1 << 20, 120);
const fs = require('fs');
const tls = {key: fs.readFileSync('/tmp/k.pem'), cert: fs.readFileSync('/tmp/c.pem')};
const serve = (q, r) => {
  if (q.url.endsWith('/big')) {
    r.writeHead(200, {'content-length': 100 * big.length});
    let n = 0;
    const more = () => {
      while (n < 100) { n++; if (!r.write(big)) return r.once('drain', more); }
      r.end();
    };
    return more();
  }
  r.setHeader('content-length', 2); r.end('ok');
};
require('https').createServer(tls, serve).listen(443);
require('http').createServer(serve).listen(80, () => console.log('ready'));
"""
ORIGIN_SH = (
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
    '-subj /CN=origin.bench -keyout /tmp/k.pem -out /tmp/c.pem 2>/dev/null && exec node -e "$ORIGIN_JS"'
)
CLIENT_JS = r"""
const http = require('http'), net = require('net'), tls = require('tls');
const [origin, proxy, plain, n] = [process.argv[1], process.argv[2], process.argv[3], +process.argv[4]];
const timed = (t) => Number(process.hrtime.bigint() - t) / 1e6;
// A new plain-HTTP connection, direct or as a proxied request; the status must be 200.
function once(viaProxy) {
  return new Promise((ok, fail) => {
    const t = process.hrtime.bigint();
    const opts = viaProxy
      ? {host: proxy, port: 3128, path: `http://${origin}/small`, agent: false, headers: {host: origin}}
      : {host: origin, port: 80, path: '/small', agent: false};
    http.get(opts, (res) => {
      if (res.statusCode !== 200) return fail(new Error(`status ${res.statusCode}`));
      res.resume(); res.on('end', () => ok(timed(t)));
    }).on('error', fail);
  });
}
// A new HTTPS connection: TLS to the origin, directly or inside a CONNECT tunnel
// through `via` (whose TLS server name Squid checks, or not); one GET, status 200.
function tlsOnce(via) {
  return new Promise((ok, fail) => {
    const t = process.hrtime.bigint();
    const request = (socket) => {
      const s = tls.connect({socket, servername: origin, rejectUnauthorized: false}, () => {
        s.write(`GET /small HTTP/1.1\r\nHost: ${origin}\r\nConnection: close\r\n\r\n`);
      });
      let got = '';
      s.on('data', (d) => { got += d; });
      s.on('end', () => got.startsWith('HTTP/1.1 200') ? ok(timed(t)) : fail(new Error(got.slice(0, 40))));
      s.on('error', fail);
    };
    if (!via) return request(net.connect(443, origin));
    const hello = `CONNECT ${origin}:443 HTTP/1.1\r\nHost: ${origin}:443\r\n\r\n`;
    const c = net.connect(3128, via, () => c.write(hello));
    c.once('data', (d) => String(d).startsWith('HTTP/1.1 200') ? request(c) : fail(new Error(String(d))));
    c.on('error', fail);
  });
}
(async () => {
  const out = {direct: [], proxy: [], tls_direct: [], tls_sni: [], tls_no_sni: []};
  for (let i = 0; i < 20; i++) {  // warm-up
    await once(false); await once(true); await tlsOnce(proxy); await tlsOnce(plain);
  }
  for (let i = 0; i < n; i++) {
    out.direct.push(await once(false)); out.proxy.push(await once(true));
    out.tls_direct.push(await tlsOnce(null)); out.tls_sni.push(await tlsOnce(proxy));
    out.tls_no_sni.push(await tlsOnce(plain));
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""
# A bare CONNECT relay that moves bytes with splice(2), never through user
# space: put in the sidecar's place, it shows what the extra hop alone costs
# on this machine, apart from anything Squid does. Lab only, never a product part.
RELAY_PY = r"""
import os, socket, threading
def pump(src, dst):
    r, w = os.pipe()
    try:
        while n := os.splice(src.fileno(), w, 1 << 20):
            while n:
                n -= os.splice(r, dst.fileno(), n)
    except OSError:
        pass
    os.close(r)
    os.close(w)
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def handle(c):
    head = b""
    while b"\r\n\r\n" not in head:
        head += c.recv(4096) or b"\r\n\r\n"
    host, port = head.split()[1].decode().rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pump, args=(s, c), daemon=True).start()
    pump(c, s)
listener = socket.create_server(("", 3128), backlog=64)
print("ready", flush=True)
while True:
    threading.Thread(target=handle, args=(listener.accept()[0],), daemon=True).start()
"""


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


def timed(argv: list[str], cwd: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = run(argv, cwd=cwd)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{result.stderr}")
    return elapsed, result.stderr


def leftovers(label: str) -> int:
    """The bench's objects still in the engine (containers and networks)."""
    flt = ["--filter", f"label={label}"]
    return len(run(["docker", "ps", "-aq", *flt]).stdout.split()) + len(
        run(["docker", "network", "ls", "-q", *flt]).stdout.split()
    )


def launch_ratio(folder: str, pairs: int, runtime: str = "runc") -> dict[str, Any]:
    """Interleaved pairs: a bare `docker run` and a bottle, both on `runtime`
    (under runsc only the agent is gVisor's; the sidecar stays on runc)."""
    timed([*bottle_cmd(runtime), "true"], folder)  # warm up: images checked, caches hot
    bare, bottle, floor, phases, left, gone = [], [], [], {}, [], []
    label = "=".join(os.environ["CLAUDE_BOTTLE_LABELS"].split("=", 1))
    for _ in range(pairs):
        bare.append(timed(["docker", "run", "--rm", "--runtime", runtime, IMAGE, "true"], folder)[0])
        floor.append(floor_of_a_bottle(folder, runtime))
        elapsed, err = timed([*bottle_cmd(runtime), "true"], folder)
        exited = time.monotonic()
        bottle.append(elapsed)
        for phase, secs in re.findall(r"(\w+) (\d+\.\d+)s", err.split("timings :")[-1]):
            phases.setdefault(phase, []).append(float(secs))
        # The sidecar and network are the watchdog's to remove, just after the exit.
        while leftovers(label) and time.monotonic() < exited + 2:
            time.sleep(0.02)
        gone.append(time.monotonic() - exited)
        left.append(leftovers(label))
    b, c, f = statistics.median(bare), statistics.median(bottle), statistics.median(floor)
    return {
        "runtime": runtime,
        "pairs": pairs,
        "bare_docker_run_s": round(b, 3),
        "claude_bottle_run_s": round(c, 3),
        "ratio": round(c / b, 2),
        "floor_s": round(f, 3),
        "floor_ratio": round(f / b, 2),
        "phases_median_s": {p: round(statistics.median(v), 3) for p, v in phases.items()},
        "all_removed_after_exit_s": {"median": round(statistics.median(gone), 3), "max": round(max(gone), 3)},
        "objects_left_2s_after_exit": max(left),
    }


def floor_of_a_bottle(folder: str, runtime: str) -> float:
    """What any bottle of this design pays at least, with nothing of claude-bottle's
    but its CLI's start: the CLI (Python and the package's imports), then one
    container started detached, one `docker exec` of the command (the container
    must exist first: files go in and the proxy must answer before the command
    runs), and the container's removal. No network, no sidecar, no checks."""
    start = time.perf_counter()
    timed(cli_argv("--version"), folder)
    argv = ["docker", "run", "-d", "--runtime", runtime, "--init", IMAGE, "sleep", "infinity"]
    container = run(argv).stdout.strip()
    timed(["docker", "exec", container, "true"], folder)
    timed(["docker", "rm", "-f", container], folder)
    return time.perf_counter() - start


def memory_kb(pid: int) -> dict[str, int]:
    """RSS (every page the process maps, shared ones counted in full) and PSS
    (each shared page divided among the processes that map it: what the host
    pays for this process), from /proc/PID/smaps_rollup."""
    out = {"rss": 0, "pss": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, *value = line.split()
            if key in ("Rss:", "Pss:"):
                out[key[:-1].lower()] = int(value[0])
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    out = run(["ps", "-eo", "pid=,ppid=,sid="]).stdout.split("\n")
    rows = [tuple(map(int, line.split())) for line in out if line.strip()]
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp, _ in rows if pp == parent]
        found += kids
        frontier += kids
    return found


def host_memory(folder: str, bottles: int) -> dict[str, Any]:
    """The CLI, the watchdog (its own session, found as our child) and the exec
    client of each of `bottles` bottles running at once: per bottle, RSS and PSS
    (with several at once the docker client's and Python's code pages are shared)."""
    argv = [*bottle_cmd(), "sh", "-c", "echo up; sleep 8"]
    procs = [
        subprocess.Popen(argv, cwd=folder, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for _ in range(bottles)
    ]
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.readline()
    time.sleep(1)
    per_bottle = []
    for proc in procs:
        pids = [proc.pid, *descendants(proc.pid)]
        comm = {p: (Path(f"/proc/{p}/comm").read_text().strip() if Path(f"/proc/{p}/comm").exists() else "?")
                for p in pids}  # fmt: skip
        per_bottle.append({f"{comm[p]}[{p}]": memory_kb(p) for p in pids})
    for proc in procs:
        proc.wait()
    first = per_bottle[0]
    return {
        "bottles_at_once": bottles,
        "processes": {name: kb["rss"] for name, kb in first.items()},
        "rss_mb": round(sum(kb["rss"] for kb in first.values()) / 1024, 1),
        "pss_mb": round(statistics.mean(sum(kb["pss"] for kb in b.values()) for b in per_bottle) / 1024, 1),
    }


def cpu_seconds(container: str) -> float:
    """CPU time the container's cgroup has used (cgroup v2 or v1), read from inside it."""
    read = "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage"
    out = run(["docker", "exec", container, "sh", "-c", read]).stdout
    usec = re.search(r"usage_usec (\d+)", out)
    return int(usec.group(1)) / 1e6 if usec else int(out.split()[0]) / 1e9


def download_rounds(
    client: str, scheme: str, proxies: dict[str, str | None], rounds: int
) -> dict[str, list[float]]:
    """100 MB downloads in one shell in the client: every path once per round,
    the order reversed every other round so that a slow spell of a shared
    machine falls on all paths alike; round 0 only warms up. MB/s per path."""
    lines = []
    for i in range(rounds + 1):
        for name in proxies if i % 2 == 0 else reversed(proxies):
            via = f"-x http://{proxies[name]}:3128" if proxies[name] else ""
            report = f"{i} {name} %{{speed_download}} %{{size_download}}\\n"
            lines.append(f"curl -m 120 -sk -o /dev/null -w '{report}' {via} {scheme}://origin.bench/big")
    out: dict[str, list[float]] = {name: [] for name in proxies}
    for line in run(["docker", "exec", client, "sh", "-c", "\n".join(lines)]).stdout.splitlines():
        i, name, rate, size = line.split()
        if int(size) != 100 << 20:
            sys.exit(f"bench: a {scheme} download via {name} was cut short: {line}")
        if int(i) > 0:
            out[name].append(float(rate) / 1e6)
    return out


def proxy_on_the_wire(requests: int, downloads: int, runtime: str) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from claude_bottle.proxies.base import ProxySpec
    from claude_bottle.proxies.squid import CONFIG_ENV, SquidBackend, render_squid_config
    from claude_bottle.proxies.squid import IMAGE as SQUID

    tag = secrets.token_hex(3)
    net, origin, squid = f"bench-{tag}", f"bench-origin-{tag}", f"bench-squid-{tag}"
    relay, client, nosni = f"bench-relay-{tag}", f"bench-client-{tag}", f"bench-squid-nosni-{tag}"
    label = ["--label", "dev.claude-bottle-bench=1"]
    run(["docker", "network", "create", "--internal", *label, net])
    try:
        run(["docker", "run", "-d", "--name", origin, "--network", net, "--network-alias", "origin.bench",
             *label, "--user", "0", "--env", "ORIGIN_JS", IMAGE, "sh", "-c", ORIGIN_SH],
            env={**os.environ, "ORIGIN_JS": ORIGIN_JS})  # fmt: skip
        # The sidecar as a bottle runs it (the SNI check on, the default), on the default
        # runtime whatever the agent's; and one with the check off, for its cost.
        for name, sni in ((squid, True), (nosni, False)):
            config = render_squid_config(ProxySpec(allow=(), internal=("origin.bench",), sni=sni))
            tmpfs = (a for p, o in SquidBackend().shape().tmpfs for a in ("--tmpfs", f"{p}:{o}"))
            run(["docker", "run", "-d", "--name", name, "--network", net, *label, "--cap-drop", "ALL",
                 "--read-only", *tmpfs, "--env", CONFIG_ENV, SQUID],
                env={**os.environ, CONFIG_ENV: config})  # fmt: skip
        run(["docker", "run", "-d", "--name", relay, "--network", net, *label, "--env", "RELAY_PY", IMAGE,
             "python3", "-c", RELAY_PY], env={**os.environ, "RELAY_PY": RELAY_PY})  # fmt: skip
        # The agent's side: one client for every measurement, on the agent's runtime.
        run(["docker", "run", "-d", "--name", client, "--network", net, *label, "--runtime", runtime, IMAGE,
             "sleep", "infinity"])  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            all("Accepting" in run(["docker", "logs", name]).stderr for name in (squid, nosni))
            and "ready" in run(["docker", "logs", relay]).stdout
        ):
            time.sleep(0.1)
        lat = json.loads(run(["docker", "exec", client, "node", "-e", CLIENT_JS, "origin.bench", squid, nosni,
                              str(requests)]).stdout)  # fmt: skip
        # HTTPS (a CONNECT tunnel, what an agent's downloads are), then plain HTTP
        # (no bare relay: it only tunnels). The sidecar's CPU is read around each.
        speeds, sidecar_cpu = {}, {}
        for scheme, paths in (("https", {"direct": None, "squid": squid, "relay": relay}),
                              ("http", {"direct": None, "squid": squid})):  # fmt: skip
            before = cpu_seconds(squid)
            speeds[scheme] = download_rounds(client, scheme, paths, downloads)
            sidecar_cpu[scheme] = (cpu_seconds(squid) - before) / (downloads + 1)
    finally:
        run(["docker", "rm", "-f", origin, squid, nosni, relay, client])
        run(["docker", "network", "rm", net])

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))]

    def ratio(scheme: str, via: str) -> float:
        """The median, over rounds, of via's rate over direct's in the same round."""
        rounds = zip(speeds[scheme][via], speeds[scheme]["direct"], strict=True)
        return round(statistics.median(v / d for v, d in rounds), 3)

    def mb_s(scheme: str, via: str) -> float:
        return round(statistics.median(speeds[scheme][via]), 1)

    d50, p50 = statistics.median(lat["direct"]), statistics.median(lat["proxy"])
    t50 = statistics.median(lat["tls_direct"])
    sni50, nosni50 = statistics.median(lat["tls_sni"]), statistics.median(lat["tls_no_sni"])
    return {
        "tls_direct_p50_ms": round(t50, 3),
        "tls_added_p50_ms": round(sni50 - t50, 3),
        "tls_added_p50_ms_without_sni_check": round(nosni50 - t50, 3),
        "sni_check_cost_p50_ms": round(sni50 - nosni50, 3),
        "tls_p99_ms": {k: round(pct(lat[k], 0.99), 3) for k in ("tls_direct", "tls_sni", "tls_no_sni")},
        "runtime": runtime,
        "requests": requests,
        "direct_p50_ms": round(d50, 3),
        "proxy_p50_ms": round(p50, 3),
        "added_p50_ms": round(p50 - d50, 3),
        "direct_p99_ms": round(pct(lat["direct"], 0.99), 3),
        "proxy_p99_ms": round(pct(lat["proxy"], 0.99), 3),
        "downloads": downloads,
        "download_100mb_direct_mb_s": mb_s("https", "direct"),
        "download_100mb_proxy_mb_s": mb_s("https", "squid"),
        "download_ratio": ratio("https", "squid"),
        "relay_download_100mb_mb_s": mb_s("https", "relay"),
        "relay_download_ratio": ratio("https", "relay"),
        "plain_http_direct_mb_s": mb_s("http", "direct"),
        "plain_http_proxy_mb_s": mb_s("http", "squid"),
        "plain_http_download_ratio": ratio("http", "squid"),
        "sidecar_cpu_s_per_100mb": {k: round(v, 3) for k, v in sidecar_cpu.items()},
        "all_mb_s": {
            f"{scheme} {via}": [round(x) for x in v] for scheme, s in speeds.items() for via, v in s.items()
        },
    }


def machine() -> str:
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")), "?")  # fmt: skip
    engine = run(["docker", "version", "--format", "{{.Server.Version}}"]).stdout.strip()
    return f"{os.cpu_count()} x {cpu}; Docker {engine}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--downloads", type=int, default=10, help="rounds of 100 MB downloads per path")
    parser.add_argument(
        "--runtime", default="runc", help="the agent side's runtime (the sidecar stays on runc)"
    )
    parser.add_argument("--sidecar-only", action="store_true", help="only the sidecar on the wire")
    parser.add_argument("--json", default="bench-results.json")
    parser.add_argument(
        "--short", action="store_true", help="a quick pass for CI (3 pairs, 200 requests, 3 rounds)"
    )
    args = parser.parse_args()
    pairs, requests, downloads = (3, 200, 3) if args.short else (args.pairs, args.requests, args.downloads)
    os.environ["CLAUDE_BOTTLE_LABELS"] = f"dev.claude-bottle-bench.run={secrets.token_hex(4)}"
    results: dict[str, Any] = {"machine": machine()}
    rows: list[tuple[str, str]] = [("machine", results["machine"])]
    if not args.sidecar_only:
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "claude-bottle.json").write_text(json.dumps(MANIFEST))
            # Our own throwaway manifest, trusted in a throwaway state folder.
            os.environ["XDG_STATE_HOME"] = str(Path(folder, "state"))
            run(cli_argv("trust", "--yes", "claude-bottle.json"), cwd=folder)
            results["launch"] = launch_ratio(folder, pairs)
            results["launch_runsc"] = launch_ratio(folder, pairs, "runsc")
            results["host_memory"] = host_memory(folder, 1)
            results["host_memory_at_once"] = host_memory(folder, 5)
        rows += launch_rows(results)
    results["sidecar"] = side = proxy_on_the_wire(requests, downloads, args.runtime)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    cpu = side["sidecar_cpu_s_per_100mb"]
    rows += [
        ("agent side's runtime", side["runtime"]),
        ("added latency per new connection, p50", f"{side['added_p50_ms']:.3f} ms "
         f"(direct {side['direct_p50_ms']:.3f}, proxy {side['proxy_p50_ms']:.3f}; p99 "
         f"{side['direct_p99_ms']:.3f} / {side['proxy_p99_ms']:.3f})"),
        ("added latency per new HTTPS connection (CONNECT), p50", f"{side['tls_added_p50_ms']:.3f} ms with "
         f"the SNI check (default), {side['tls_added_p50_ms_without_sni_check']:.3f} ms without "
         f"(direct {side['tls_direct_p50_ms']:.3f}; the check costs {side['sni_check_cost_p50_ms']:.3f} ms)"),
        ("100 MB HTTPS download through the sidecar", f"{side['download_ratio'] * 100:.1f}% of direct "
         f"({side['download_100mb_proxy_mb_s']} / {side['download_100mb_direct_mb_s']} MB/s; "
         f"median of {side['downloads']} interleaved rounds)"),
        ("the same through a bare splice relay", f"{side['relay_download_ratio'] * 100:.1f}% of direct "
         f"({side['relay_download_100mb_mb_s']} MB/s)"),
        ("100 MB plain-HTTP download through it", f"{side['plain_http_download_ratio'] * 100:.1f}% of direct "
         f"({side['plain_http_proxy_mb_s']} / {side['plain_http_direct_mb_s']} MB/s)"),
        ("Squid's CPU per 100 MB", f"{cpu['https']:.2f} s HTTPS, {cpu['http']:.2f} s plain HTTP"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)} : {value}")
    print(f"(written to {args.json})")
    return 0


def launch_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    launch, mem, many = results["launch"], results["host_memory"], results["host_memory_at_once"]
    gvisor, removed = results["launch_runsc"], results["launch"]["all_removed_after_exit_s"]
    return [
        ("bare docker run --rm IMAGE true (median)", f"{launch['bare_docker_run_s']:.3f} s"),
        ("claude-bottle run bench -- true (median)", f"{launch['claude_bottle_run_s']:.3f} s"),
        ("ratio (target <= 2x)", f"{launch['ratio']:.2f}x over {launch['pairs']} interleaved pairs"),
        ("phases (median)", ", ".join(f"{k} {v:.3f} s" for k, v in launch["phases_median_s"].items())),
        ("under runsc: bare / claude-bottle / ratio", f"{gvisor['bare_docker_run_s']:.3f} s / "
         f"{gvisor['claude_bottle_run_s']:.3f} s / {gvisor['ratio']:.2f}x; phases "
         + ", ".join(f"{k} {v:.3f} s" for k, v in gvisor["phases_median_s"].items())),
        ("floor: CLI start, one container, one exec, removal", f"{launch['floor_s']:.3f} s, "
         f"{launch['floor_ratio']:.2f}x (runsc {gvisor['floor_s']:.3f} s, {gvisor['floor_ratio']:.2f}x)"),
        ("command end to exit (teardown phase)", f"{launch['phases_median_s'].get('teardown', 0):.3f} s"),
        ("all removed after the exit", f"median {removed['median']:.3f} s, max {removed['max']:.3f} s"),
        ("objects left 2 s after exit", str(launch["objects_left_2s_after_exit"])),
        ("host memory per running bottle (target <= 25 MB)", f"PSS {mem['pss_mb']} MB alone, "
         f"{many['pss_mb']} MB each with {many['bottles_at_once']} at once; RSS {mem['rss_mb']} MB: "
         f"{mem['processes']}"),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
