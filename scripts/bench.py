#!/usr/bin/env python3
"""Benchmarks for issue 12's targets, measured in one run on this machine:

1. launch ratio: `claude-bottle run bench -- true` against a bare
   `docker run --rm IMAGE true`, as interleaved pairs (median of --pairs),
   with the phase timings `--timings` prints;
2. end to exit: from the command's end to the CLI's exit (the `teardown`
   phase plus the summary), and whether anything is left 2 s after exit;
3. host memory per running bottle outside its containers: the PSS (and RSS) of
   the CLI, its watchdog and its `docker exec` client while one bottle runs,
   and while five run at once;
4. the sidecar on the wire: added latency per new connection (p50, p99) and
   a 100 MB download, through a Squid sidecar against direct, both from a
   client container to an origin container on an --internal network.

    python3 scripts/bench.py [--pairs N] [--requests N] [--json FILE] [--short]

Needs the agent and Squid images (`claude-bottle build`). Everything runs
against containers it makes on internal networks; nothing leaves the machine,
and everything it makes is removed. No target is asserted: it prints a table
and writes JSON.
"""

from __future__ import annotations

import argparse
import compileall
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
    return [sys.executable, "-m", "claude_bottle", "run", "--timings", AGENTS[runtime], "--"]


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
const http = require('http');
const [origin, proxy, n] = [process.argv[1], process.argv[2], +process.argv[3]];
function once(viaProxy) {
  return new Promise((ok, fail) => {
    const t = process.hrtime.bigint();
    const opts = viaProxy
      ? {host: proxy, port: 3128, path: `http://${origin}/small`, agent: false, headers: {host: origin}}
      : {host: origin, port: 80, path: '/small', agent: false};
    const done = () => ok(Number(process.hrtime.bigint() - t) / 1e6);
    http.get(opts, (res) => { res.resume(); res.on('end', done); }).on('error', fail);
  });
}
(async () => {
  const out = {direct: [], proxy: []};
  for (let i = 0; i < 20; i++) { await once(false); await once(true); }
  for (let i = 0; i < n; i++) { out.direct.push(await once(false)); out.proxy.push(await once(true)); }
  console.log(JSON.stringify(out));
})();
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
    flt = ["--filter", f"label={label}"]
    return len(run(["docker", "ps", "-aq", *flt]).stdout.split()) + len(
        run(["docker", "network", "ls", "-q", *flt]).stdout.split()
    )


def launch_ratio(folder: str, pairs: int, runtime: str = "runc") -> dict[str, Any]:
    """Interleaved pairs: a bare `docker run` and a bottle, both on `runtime`
    (under runsc only the agent is gVisor's; the sidecar stays on runc)."""
    timed([*bottle_cmd(runtime), "true"], folder)  # warm up: images checked, caches hot
    bare, bottle, phases, left = [], [], {}, []
    label = os.environ["CLAUDE_BOTTLE_LABELS"].split("=", 1)
    for _ in range(pairs):
        bare.append(timed(["docker", "run", "--rm", "--runtime", runtime, IMAGE, "true"], folder)[0])
        elapsed, err = timed([*bottle_cmd(runtime), "true"], folder)
        bottle.append(elapsed)
        for phase, secs in re.findall(r"(\w+) (\d+\.\d+)s", err.split("timings :")[-1]):
            phases.setdefault(phase, []).append(float(secs))
        deadline = time.monotonic() + 2
        while leftovers(f"{label[0]}={label[1]}") and time.monotonic() < deadline:
            time.sleep(0.05)
        left.append(leftovers(f"{label[0]}={label[1]}"))
    b, c = statistics.median(bare), statistics.median(bottle)
    return {
        "runtime": runtime,
        "pairs": pairs,
        "bare_docker_run_s": round(b, 3),
        "claude_bottle_run_s": round(c, 3),
        "ratio": round(c / b, 2),
        "phases_median_s": {p: round(statistics.median(v), 3) for p, v in phases.items()},
        "objects_left_2s_after_exit": max(left),
    }


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


def proxy_on_the_wire(requests: int) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from claude_bottle.proxies.base import ProxySpec
    from claude_bottle.proxies.squid import CONFIG_ENV, SquidBackend, render_squid_config
    from claude_bottle.proxies.squid import IMAGE as SQUID

    tag = secrets.token_hex(3)
    net, origin, squid = f"bench-{tag}", f"bench-origin-{tag}", f"bench-squid-{tag}"
    label = ["--label", "dev.claude-bottle-bench=1"]
    run(["docker", "network", "create", "--internal", *label, net])
    try:
        run(["docker", "run", "-d", "--name", origin, "--network", net, "--network-alias", "origin.bench",
             *label, "--user", "0", "--env", "ORIGIN_JS", IMAGE, "sh", "-c", ORIGIN_SH],
            env={**os.environ, "ORIGIN_JS": ORIGIN_JS})  # fmt: skip
        config = render_squid_config(ProxySpec(allow=(), internal=("origin.bench",)))
        run(["docker", "run", "-d", "--name", squid, "--network", net, *label, "--cap-drop", "ALL",
             "--read-only", *(a for p, o in SquidBackend().shape().tmpfs for a in ("--tmpfs", f"{p}:{o}")),
             "--env", CONFIG_ENV, SQUID],
            env={**os.environ, CONFIG_ENV: config})  # fmt: skip
        deadline = time.monotonic() + 20
        while "Accepting HTTP" not in run(["docker", "logs", squid]).stderr and time.monotonic() < deadline:
            time.sleep(0.1)
        client = ["docker", "run", "--rm", "--network", net, *label, IMAGE]
        lat = json.loads(run([*client, "node", "-e", CLIENT_JS, "origin.bench", squid, str(requests)]).stdout)
        # HTTPS (a CONNECT tunnel, what an agent's downloads are) and plain HTTP.
        speed = run([*client, "sh", "-c",
                     "curl -sk -o /dev/null -w 'direct=%{speed_download}\\n' https://origin.bench/big; "
                     f"curl -sk -o /dev/null -w 'proxy=%{{speed_download}}\\n' -x http://{squid}:3128 "
                     "https://origin.bench/big; "
                     "curl -s -o /dev/null -w 'plain_direct=%{speed_download}\\n' http://origin.bench/big; "
                     f"curl -s -o /dev/null -w 'plain_proxy=%{{speed_download}}\\n' -x http://{squid}:3128 "
                     "http://origin.bench/big"]).stdout  # fmt: skip
    finally:
        run(["docker", "rm", "-f", origin, squid])
        run(["docker", "network", "rm", net])
    rates = dict(line.split("=") for line in speed.split())

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))]

    d50, p50 = statistics.median(lat["direct"]), statistics.median(lat["proxy"])
    return {
        "requests": requests,
        "direct_p50_ms": round(d50, 3),
        "proxy_p50_ms": round(p50, 3),
        "added_p50_ms": round(p50 - d50, 3),
        "direct_p99_ms": round(pct(lat["direct"], 0.99), 3),
        "proxy_p99_ms": round(pct(lat["proxy"], 0.99), 3),
        "download_100mb_direct_mb_s": round(float(rates["direct"]) / 1e6, 1),
        "download_100mb_proxy_mb_s": round(float(rates["proxy"]) / 1e6, 1),
        "download_ratio": round(float(rates["proxy"]) / float(rates["direct"]), 3),
        "plain_http_download_ratio": round(float(rates["plain_proxy"]) / float(rates["plain_direct"]), 3),
    }


def machine() -> str:
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")), "?")  # fmt: skip
    engine = run(["docker", "version", "--format", "{{.Server.Version}}"]).stdout.strip()
    return f"{os.cpu_count()} x {cpu}; Docker {engine}"


def compile_package() -> None:
    """Bytecode for the package, as installing its wheel writes it. An editable
    install on a machine with PYTHONDONTWRITEBYTECODE=1 (like CI's) has none,
    so every CLI start would compile all its sources first (0.39 s against
    0.25 s to import the CLI, measured here): a cost no installed user pays."""
    import claude_bottle

    compileall.compile_dir(Path(claude_bottle.__file__).parent, quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--json", default="bench-results.json")
    parser.add_argument("--short", action="store_true", help="a quick pass for CI (3 pairs, 200 requests)")
    args = parser.parse_args()
    pairs, requests = (3, 200) if args.short else (args.pairs, args.requests)
    os.environ["CLAUDE_BOTTLE_LABELS"] = f"dev.claude-bottle-bench.run={secrets.token_hex(4)}"
    compile_package()
    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "claude-bottle.json").write_text(json.dumps(MANIFEST))
        # Our own throwaway manifest, trusted in a throwaway state folder.
        os.environ["XDG_STATE_HOME"] = str(Path(folder, "state"))
        run([sys.executable, "-m", "claude_bottle", "trust", "--yes", "claude-bottle.json"], cwd=folder)
        results["launch"] = launch_ratio(folder, pairs)
        results["launch_runsc"] = launch_ratio(folder, pairs, "runsc")
        results["host_memory"] = host_memory(folder, 1)
        results["host_memory_at_once"] = host_memory(folder, 5)
    results["sidecar"] = proxy_on_the_wire(requests)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    launch, mem, side = results["launch"], results["host_memory"], results["sidecar"]
    many = results["host_memory_at_once"]
    gvisor = results["launch_runsc"]
    rows = [
        ("machine", results["machine"]),
        ("bare docker run --rm IMAGE true (median)", f"{launch['bare_docker_run_s']:.3f} s"),
        ("claude-bottle run bench -- true (median)", f"{launch['claude_bottle_run_s']:.3f} s"),
        ("ratio (target <= 2x)", f"{launch['ratio']:.2f}x over {launch['pairs']} interleaved pairs"),
        ("phases (median)", ", ".join(f"{k} {v:.3f} s" for k, v in launch["phases_median_s"].items())),
        ("under runsc: bare / claude-bottle / ratio", f"{gvisor['bare_docker_run_s']:.3f} s / "
         f"{gvisor['claude_bottle_run_s']:.3f} s / {gvisor['ratio']:.2f}x; phases "
         + ", ".join(f"{k} {v:.3f} s" for k, v in gvisor["phases_median_s"].items())),
        ("command end to exit (teardown phase)", f"{launch['phases_median_s'].get('teardown', 0):.3f} s"),
        ("objects left 2 s after exit", str(launch["objects_left_2s_after_exit"])),
        ("host memory per running bottle (target <= 25 MB)", f"PSS {mem['pss_mb']} MB alone, "
         f"{many['pss_mb']} MB each with {many['bottles_at_once']} at once; RSS {mem['rss_mb']} MB: "
         f"{mem['processes']}"),
        ("added latency per new connection, p50", f"{side['added_p50_ms']:.3f} ms "
         f"(direct {side['direct_p50_ms']:.3f}, proxy {side['proxy_p50_ms']:.3f}; p99 "
         f"{side['direct_p99_ms']:.3f} / {side['proxy_p99_ms']:.3f})"),
        ("100 MB HTTPS download through the sidecar", f"{side['download_ratio'] * 100:.1f}% of direct "
         f"({side['download_100mb_proxy_mb_s']} / {side['download_100mb_direct_mb_s']} MB/s)"),
        ("100 MB plain-HTTP download through it",
         f"{side['plain_http_download_ratio'] * 100:.1f}% of direct"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)} : {value}")
    print(f"(written to {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
