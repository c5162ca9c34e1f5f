"""The bench's warm pool: `claude-bottle run` claiming a ready bottle from
`claude-bottle pool`, against a bare `docker run --rm` of the same command, in
interleaved pairs. Before each pair the pool is full again (its keeper's
refill is not timed, and does not run during a pair). Every run is checked to
have run and to have come from the pool; the pool's objects are all gone after
`pool --stop`."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench_bottles import AGENTS, Bench, BenchFailed, _bare, _checked, _command, _token
from bench_lab import must

SIZE = 2  # bottles kept ready
READY_DEADLINE = 180.0  # seconds for the keeper to fill the pool on a busy host


def _wait_full(state: Path) -> None:
    deadline = time.monotonic() + READY_DEADLINE
    while len(list((state / "claude-bottle" / "pool").glob("*/ready/*"))) < SIZE:
        if time.monotonic() > deadline:
            raise BenchFailed(f"the warm pool did not hold {SIZE} ready bottles in {READY_DEADLINE:.0f} s")
        time.sleep(0.1)


def warm_pairs(bench: Bench, pairs: int) -> dict[str, Any]:
    """One warm-up pair, then `pairs` timed ones; medians (runc)."""
    env = bench.bottle_env("warm-pool")  # one label set for the pool and its claimers: the key matches
    state = Path(env["XDG_STATE_HOME"])
    agent = AGENTS["runc"]
    must(bench.cli("pool", agent, "-n", str(SIZE)), cwd=bench.folder, env=env)
    bare, warm = [], []
    try:
        for n in range(pairs + 1):
            _wait_full(state)
            b = _bare("runc")
            token = _token()
            argv = bench.cli("run", agent, "--", *_command(token))
            seconds, _, _, err = _checked(argv, token, "a warm bottle", cwd=bench.folder, env=env)
            if "from the warm pool" not in err:
                raise BenchFailed(f"a run did not claim a ready bottle: {err.strip()[-300:]}")
            if n:
                bare.append(b)
                warm.append(seconds)
    finally:
        must(bench.cli("pool", agent, "--stop"), cwd=bench.folder, env=env)
    deadline = time.monotonic() + 60
    while left := bench.left("warm-pool"):
        if time.monotonic() > deadline:
            raise BenchFailed(f"the warm pool's objects were not all removed after --stop: {left}")
        time.sleep(0.05)
    b, w = statistics.median(bare), statistics.median(warm)
    return {"pairs": pairs, "bare_docker_run_s": round(b, 3), "warm_run_s": round(w, 3),
            "ratio": round(w / b, 2)}  # fmt: skip
