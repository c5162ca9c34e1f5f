"""Peak memory of the CLI for `run --cwd` on a folder holding a 2 GB sparse file
the agent never touches (issue 10): the copy in is a tar | docker cp stream and
the harvest lists metadata first, so the file never passes through the CLI.

    python3 scripts/bench/bench_harvest.py [--size-gb 2]

Needs the engine and the agent image. Prints the CLI's peak resident memory
(VmHWM, sampled from /proc while it runs), the wall time, and what came back.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def peak_kib(pid: int, stop: threading.Event, seen: list[int]) -> None:
    """Keep the largest VmHWM (the kernel's own peak RSS) until the process ends."""
    while not stop.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    seen.append(int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--src", type=Path, default=SRC, help="the claude_bottle source to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-harvest-") as tmp:
        root = Path(tmp)
        work = root / "work"
        work.mkdir()
        with (work / "big.bin").open("wb") as f:
            f.truncate(int(args.size_gb * (1 << 30)))  # sparse: no disk blocks
        (work / "small.txt").write_text("before\n")
        (work / "claude-bottle.json").write_text(
            json.dumps(
                {
                    "bottles": {"bench": {"egress": {"allow": ["allowed.test"]}}},
                    "agents": {"bench": {"bottle": "bench"}},
                }
            )
        )
        env = {
            **os.environ,
            "PYTHONPATH": str(args.src),
            "XDG_STATE_HOME": str(root / "state"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_CACHE_HOME": str(root / "cache"),
        }
        cli = [sys.executable, "-m", "claude_bottle"]
        # (a version from before `trust` existed just says it has no such command)
        subprocess.run([*cli, "trust", "--yes"], cwd=work, env=env, check=False, capture_output=True)
        script = "echo after > small.txt; echo new > new.txt"
        start = time.monotonic()
        proc = subprocess.Popen(
            [*cli, "run", "--cwd", "bench", "--timings", "--", "sh", "-c", script],
            cwd=work,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        stop, seen = threading.Event(), [0]
        sampler = threading.Thread(target=peak_kib, args=(proc.pid, stop, seen))
        sampler.start()
        _, err = proc.communicate()
        stop.set()
        sampler.join()
        elapsed = time.monotonic() - start
        saved = sorted(str(p.relative_to(root / "data")) for p in (root / "data").rglob("*") if p.is_file())
        print(f"exit {proc.returncode}; wall {elapsed:.1f}s; CLI peak RSS {max(seen) / 1024:.0f} MiB")
        print("\n".join(line for line in err.splitlines() if "timings" in line or "work" in line))
        print("saved:", ", ".join(s for s in saved if "/files/" in s))
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
