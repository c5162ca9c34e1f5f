#!/usr/bin/env python3
"""The speed of a bottle against issue 25's targets, measured in one run on this
machine, with the bare `docker run --rm` it is compared with measured in the
same run:

1. launch: `claude-bottle run bench -- CMD` against a bare `docker run --rm
   IMAGE CMD` (the same command: it prints a token, checked, and the time it
   ended), in interleaved pairs, under runc and runsc, with the floor of any
   bottle of this design; medians; and `run` claiming a bottle from a warm
   pool (`claude-bottle pool`) against the bare run (bench_warm.py);
2. the command's end to the CLI's exit (the command's last act prints the
   host's clock), and the exit to the last of the bottle's objects gone (read
   on the engine's API every few milliseconds);
3. N at once (--at-once 50 100): N bottles all held up at the same moment (a
   barrier: each waits on its standard input after printing its token), the
   host's memory per bottle read then, counting every host process that exists
   because of the bottle (its CLI and what it started, the containerd shims of
   its containers, anything naming them: bench_host.py), then all released,
   timed to the last exit and the last object gone;
4. the sidecar on the wire (bench_lab.py): added latency per new connection,
   plain HTTP and HTTPS (a CONNECT tunnel), every answer's status and body
   checked, and 100 MB downloads, through Squid configured as a bottle's
   sidecar, against direct, on an --internal lab network.

    python3 scripts/bench/bench.py [--pairs N] [--warm N] [--at-once N ...] [--requests N] [--downloads N]
    python3 scripts/bench/bench.py --quick      # a minute or two, for scripts/test.sh
    python3 scripts/bench/bench.py --sidecar-only [--runtime runsc]

Needs the agent and Squid images (`claude-bottle build`) and the local engine
(it reads /proc). Any bottle that did not run, or left an object behind, fails
the bench (exit 1); timings are printed and written as JSON, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bottles import MANIFEST, RUN_ID, RUN_KEY, Bench, held_at_once, launch_pairs
from bench_lab import Lab, direct_client, downloads, lab, must
from bench_warm import warm_pairs

from tests.installed import cli_argv


def latency(the: Lab, requests: int) -> dict[str, Any]:
    """New connections from the plain client: direct, and through Squid (as a
    bottle runs it, and with the SNI check off), plain HTTP and HTTPS over
    CONNECT, interleaved one by one in rounds of at most 100 of each."""
    squid, nosni = f"{the.squid}:3128", f"{the.squid_no_sni}:3128"
    paths = ["http", f"http@{squid}", "https", f"https@{squid}", f"https@{nosni}"]
    per_round = min(100, requests)
    client = direct_client(the, per_round, paths)
    got: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(max(1, requests // per_round)):
        for path, values in client.round().items():
            got[path] += values
    code, err = client.close()
    if code != 0:
        raise SystemExit(f"bench: FAILED: the latency client: exit {code}: {err[-400:]}")

    def p(path: str, q: float) -> float:
        values = sorted(got[path])
        return round(values[min(len(values) - 1, int(q * len(values)))], 3)

    def added(path: str, direct: str) -> float:
        return round(statistics.median(got[path]) - statistics.median(got[direct]), 3)

    return {
        "requests": len(got["http"]),
        "p50_ms": {k: p(k, 0.5) for k in paths},
        "p99_ms": {k: p(k, 0.99) for k in paths},
        "http_added_p50_ms": added(f"http@{squid}", "http"),
        "https_added_p50_ms": added(f"https@{squid}", "https"),
        "https_added_p50_ms_without_sni_check": added(f"https@{nosni}", "https"),
        "paths": {"squid": the.squid, "squid_no_sni": the.squid_no_sni},
    }


def on_the_wire(requests: int, rounds: int, runtime: str) -> dict[str, Any]:
    with lab(f"{RUN_KEY}={RUN_ID}", runtime) as the:
        out = {"runtime": runtime, "latency": latency(the, requests)}
        if rounds:
            speeds, cpu = downloads(the, rounds)

            def ratio(scheme: str, via: str) -> float:
                pairs = zip(speeds[scheme][via], speeds[scheme]["direct"], strict=True)
                return round(statistics.median(v / d for v, d in pairs), 3)

            out["downloads"] = {
                "rounds": rounds,
                "mb_s": {
                    f"{s} {v}": round(statistics.median(x), 1)
                    for s, by in speeds.items()
                    for v, x in by.items()
                },
                "https_squid_ratio": ratio("https", "squid"),
                "https_relay_ratio": ratio("https", "relay"),
                "http_squid_ratio": ratio("http", "squid"),
                "squid_cpu_s_per_100mb": {k: round(v, 3) for k, v in cpu.items()},
            }
        return out


def machine() -> dict[str, Any]:
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")), "?")  # fmt: skip
    engine = must(["docker", "version", "--format", "{{.Server.Version}}"]).strip()
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(int(mem) / 2**20, 1), "docker": engine,
            "load_at_start": Path("/proc/loadavg").read_text().split()[:3]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10, help="pairs per runtime (default 10; 0: none)")
    parser.add_argument(
        "--at-once",
        type=int,
        nargs="*",
        default=[50, 100],
        help="N held at once (default 50 100; none: no value, or 0)",
    )
    parser.add_argument(
        "--starting", type=int, default=10, help="at most this many bottles starting at a time"
    )
    parser.add_argument("--requests", type=int, default=1000, help="new connections per path (default 1000)")
    parser.add_argument("--downloads", type=int, default=10, help="rounds of 100 MB downloads (0: none)")
    parser.add_argument(
        "--runtime", default="runc", help="the lab client's runtime (the sidecar stays on runc)"
    )
    parser.add_argument("--sidecar-only", action="store_true", help="only the sidecar on the wire")
    parser.add_argument("--no-runsc", action="store_true", help="launch pairs under runc only")
    parser.add_argument("--warm", type=int, default=5, help="warm-pool pairs (runc; default 5; 0: none)")
    parser.add_argument("--json", default="bench-results.json")
    quick = "a short pass for CI: 2 pairs per runtime, 1 warm pair, 3 at once, 100 requests, no downloads"
    parser.add_argument("--quick", action="store_true", help=quick)
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.at_once, args.requests, args.downloads, args.warm = 2, [3], 100, 0, 1
    results: dict[str, Any] = {"machine": machine()}
    if not args.sidecar_only:
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "claude-bottle.json").write_text(json.dumps(MANIFEST))
            # Our own throwaway manifest, trusted in a throwaway state folder.
            env = {**os.environ, "XDG_STATE_HOME": str(Path(folder, "state"))}
            bench = Bench(cli_argv, folder, env)
            must(cli_argv("trust", "--yes", "claude-bottle.json"), cwd=folder, env=env)
            runtimes = ["runc"] if args.no_runsc else ["runc", "runsc"]
            for runtime in runtimes if args.pairs else ():
                results[f"launch_{runtime}"] = launch_pairs(bench, args.pairs, runtime)
                print(json.dumps(results[f"launch_{runtime}"]), flush=True)
            if args.warm:
                results["warm_pool"] = warm_pairs(bench, args.warm)
                print(json.dumps(results["warm_pool"]), flush=True)
            for n in (n for n in args.at_once if n > 0):
                results[f"at_once_{n}"] = held_at_once(
                    bench, n, "runc", args.starting, deadline_s=60 + 12 * n
                )
                print(json.dumps(results[f"at_once_{n}"]), flush=True)
    results["sidecar"] = on_the_wire(args.requests, args.downloads, args.runtime)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    rows = table(results)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)} : {value}")
    print(f"(written to {args.json})")
    return 0


def table(r: dict[str, Any]) -> list[tuple[str, str]]:
    """Issue 25's target table, row by row, as this run measured it."""
    m = r["machine"]
    rows = [("machine", f"{m['cpus']} x {m['cpu']}, {m['memory_gb']} GB, Docker {m['docker']}, "
                        f"load {' '.join(m['load_at_start'])} at start")]  # fmt: skip
    targets = {"runc": 2.0, "runsc": 1.8}
    for runtime in ("runc", "runsc"):
        if (launch := r.get(f"launch_{runtime}")) is None:
            continue
        phases = ", ".join(f"{k} {v:.3f}" for k, v in launch["phases_median_s"].items())
        rows += [
            (f"run, cold, {runtime} (target <= {targets[runtime]}x)",
             f"{launch['claude_bottle_run_s']:.3f} s against bare {launch['bare_docker_run_s']:.3f} s: "
             f"{launch['ratio']:.2f}x (medians of {launch['pairs']} interleaved pairs)"),
            (f"  phases ({runtime}, s)", phases),
            (f"  floor ({runtime}): CLI start, one container, one exec, removal",
             f"{launch['floor_s']:.3f} s, {launch['floor_ratio']:.2f}x"),
            (f"command end to CLI exit ({runtime}, target <= 0.2 s)",
             f"median {launch['command_end_to_exit_s']['median']:.3f} s, "
             f"max {launch['command_end_to_exit_s']['max']:.3f} s"),
            (f"CLI exit to the last object gone ({runtime})",
             f"median {launch['all_removed_after_exit_s']['median']:.3f} s, "
             f"max {launch['all_removed_after_exit_s']['max']:.3f} s"),
        ]  # fmt: skip
    w = r.get("warm_pool")
    warm = (f"{w['warm_run_s']:.3f} s against bare {w['bare_docker_run_s']:.3f} s: {w['ratio']:.2f}x "
            f"(medians of {w['pairs']} interleaved pairs)") if w else "not measured (--warm 0)"  # fmt: skip
    rows.append(("run from a warm pool, runc (target <= 0.5x bare)", warm))
    for key in sorted((k for k in r if k.startswith("at_once_")), key=lambda k: int(k.split("_")[-1])):
        a = r[key]
        by = ", ".join(f"{k} {v}" for k, v in a["host_pss_mb_by_process"].items())
        rows += [
            (f"{a['bottles']} held at once (target: 100, nothing left)",
             f"{a['held_at_once']} of {a['bottles']} up together after {a['all_up_s']} s; released: last "
             f"exit {a['release_to_last_exit_s']} s, last object gone {a['release_to_all_removed_s']} s"),
            (f"  host memory per bottle, {a['bottles']} held (target <= 25 MB)",
             f"PSS {a['host_pss_mb_per_bottle']} MB (RSS {a['host_rss_mb_per_bottle']} MB), "
             f"{a['shims_per_bottle']} shims each: {by}"),
            ("  the host's MemAvailable drop per bottle, containers included",
             f"{a['mem_available_drop_per_bottle_mb']} MB (indicative: a shared machine); "
             f"dockerd+containerd PSS grew {a['engine_daemons_pss_growth_mb']} MB"),
        ]  # fmt: skip
    lat = r["sidecar"]["latency"]
    p50, p99 = lat["p50_ms"], lat["p99_ms"]
    sq = lat["paths"]["squid"]
    rows += [
        ("added latency per new HTTPS connection (CONNECT), p50 (target <= 1 ms)",
         f"{lat['https_added_p50_ms']:.3f} ms (direct {p50['https']:.3f}, through Squid "
         f"{p50[f'https@{sq}:3128']:.3f}; p99 {p99['https']:.3f} / {p99[f'https@{sq}:3128']:.3f}; "
         f"without the SNI check {lat['https_added_p50_ms_without_sni_check']:.3f}) over {lat['requests']}"),
        ("added latency per new plain-HTTP connection, p50",
         f"{lat['http_added_p50_ms']:.3f} ms (direct {p50['http']:.3f}, through Squid "
         f"{p50[f'http@{sq}:3128']:.3f}; p99 {p99['http']:.3f} / {p99[f'http@{sq}:3128']:.3f})"),
    ]  # fmt: skip
    if d := r["sidecar"].get("downloads"):
        rows += [
            ("100 MB over HTTPS through Squid / a splice relay",
             f"{d['https_squid_ratio'] * 100:.1f}% / {d['https_relay_ratio'] * 100:.1f}% of direct "
             f"({d['mb_s']['https squid']} / {d['mb_s']['https relay']} / {d['mb_s']['https direct']} MB/s)"),
            ("100 MB over plain HTTP through Squid",
             f"{d['http_squid_ratio'] * 100:.1f}% of direct ({d['mb_s']['http squid']} / "
             f"{d['mb_s']['http direct']} MB/s); Squid's CPU per 100 MB {d['squid_cpu_s_per_100mb']}"),
        ]  # fmt: skip
    return rows


if __name__ == "__main__":
    sys.exit(main())
