#!/usr/bin/env python3
"""Benchmark: `claude-bottle run` of a trivial command on warm images against a
bare `docker run --rm IMAGE true`, plus the phase timings (teardown included).

    python3 scripts/bench.py [--runs N]

Needs the agent image and the Squid sidecar image (`claude-bottle build`), or
the image named by CLAUDE_BOTTLE_SIDECAR_IMAGE. Uses a throwaway manifest; no traffic leaves the
bottle (the command is `true`).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MANIFEST = {
    "bottles": {"bench": {"egress": {"allow": ["allowed.test"]}}},
    "agents": {"bench": {"bottle": "bench"}},
}


def timed(argv: list[str], cwd: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{result.stderr}")
    return elapsed, result.stderr


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--image", default="claude-bottle:latest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "claude-bottle.json").write_text(json.dumps(MANIFEST))
        bottle_cmd = [
            sys.executable,
            "-m",
            "claude_bottle",
            "run",
            "--timings",
            "bench",
            "--",
            "true",
        ]
        timed(bottle_cmd, folder)  # warm up: images checked, caches hot
        bare = [timed(["docker", "run", "--rm", args.image, "true"], folder)[0] for _ in range(args.runs)]
        runs = [timed(bottle_cmd, folder) for _ in range(args.runs)]
    bottle = [t for t, _ in runs]
    phases: dict[str, list[float]] = {}
    for _, err in runs:
        for phase, secs in re.findall(r"(\w+) (\d+\.\d+)s", err.split("timings :")[-1]):
            phases.setdefault(phase, []).append(float(secs))
    b, c = statistics.median(bare), statistics.median(bottle)
    print(f"docker run --rm {args.image} true : median {b:.3f}s over {args.runs}")
    print(f"claude-bottle run bench -- true    : median {c:.3f}s over {args.runs}")
    print(f"ratio                              : {c / b:.2f}x")
    for phase, values in phases.items():
        print(f"  {phase:<9}: median {statistics.median(values):.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
