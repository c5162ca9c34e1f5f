#!/usr/bin/env python3
"""Benchmark: copying a folder of many small files into a bottle (--cwd) against
a plain `tar -c | docker cp -` of the same folder.

    python3 scripts/bench/bench_copy.py [--files 20000]

Needs the agent image (claude-bottle build). Prints both times and the ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.settings import Settings
from claude_bottle.workspace.source import copy_folder_in, scan_workspace

DEST = "/home/node/workspace"


def make_tree(root: Path, files: int) -> None:
    per_dir = 100
    for i in range(files):
        folder = root / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            folder.mkdir()
        (folder / f"f{i}.txt").write_text(f"file {i}\n" * 3)


def fresh_container(engine: DockerEngine, image: str) -> str:
    return engine.run("run", "-d", "--init", image, "sleep", "infinity").stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--image", default="claude-bottle:latest")
    args = parser.parse_args()
    engine = DockerEngine.locate(Settings.from_environ())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tree(root, args.files)
        results = {}
        for name in ("tar | docker cp", "claude-bottle"):
            container = fresh_container(engine, args.image)
            try:
                start = time.perf_counter()
                if name == "claude-bottle":
                    copy_folder_in(engine, container, scan_workspace(root), DEST)
                else:
                    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
                    subprocess.run(["docker", "cp", "-", f"{container}:{DEST}"], stdin=tar.stdout, check=True)
                    tar.wait()
                results[name] = time.perf_counter() - start
                count = engine.run(
                    "exec", container, "sh", "-c", f"find {DEST} -type f | wc -l"
                ).stdout.strip()
                assert int(count) == args.files, f"{name}: {count} files arrived"
            finally:
                engine.run("rm", "-f", container)
    plain, ours = results["tar | docker cp"], results["claude-bottle"]
    print(f"{args.files} small files")
    print(f"tar -c | docker cp -   : {plain:.2f}s")
    print(f"claude-bottle copy-in  : {ours:.2f}s (scan with ignore rules + tar | docker cp)")
    print(f"ratio                  : {ours / plain:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
