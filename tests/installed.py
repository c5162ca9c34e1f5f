"""The claude-bottle a user installs, for every suite that runs the CLI as a process.

The suites that start `claude-bottle` (engine, sidecar, k8s, the quick-start walk)
run the entry point of the wheel built from this checkout and installed into a
virtual environment of its own, never `python -m claude_bottle` from the source
tree: a file the wheel lacks fails them as it would fail a user. scripts/test.sh
builds that environment once and names its entry point in CLAUDE_BOTTLE_TEST_CLI;
without it (a developer running one suite), the first test that needs the CLI
builds one under /tmp, keyed by the checkout's content, and reuses it while the
source is unchanged.

    python3 -m tests.installed --venv DIR [--extras kubernetes] [--source ROOT]

builds the wheel of ROOT (default: this checkout), installs it into a new
virtual environment DIR and prints the path of its `claude-bottle`.

Whichever way it was made, the CLI is checked once per run: its script is not in
the checkout, and the `claude_bottle` its interpreter imports is not the
checkout's `src/` (with PYTHONPATH dropped, as cli_env() drops it)."""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "CLAUDE_BOTTLE_TEST_CLI"
# What the wheel and the sdist are built from, beside src/.
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "CHANGELOG.md", "CONTRIBUTING.md")
# The pages the README links to: in the sdist (MANIFEST.in), never in the wheel,
# so they are not part of the digest that keys an installed wheel.
DOCS = "docs"


def copy_for_build(source: Path, work: Path) -> Path:
    """What a build reads of `source`, copied to `work` (setuptools writes build/
    and *.egg-info beside what it builds; the checkout stays as it is)."""
    work.mkdir(parents=True)
    for name in BUILD_INPUTS:
        shutil.copy2(source / name, work / name)
    shutil.copytree(source / DOCS, work / DOCS)
    shutil.copytree(source / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return work


def build_wheel(source: Path, out: Path) -> Path:
    """The wheel of `source` (a checkout, or a scratch copy of one), built offline
    with this interpreter's setuptools, as `pip wheel .` builds it."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="claude-bottle-wheel-") as tmp:
        # Built from a copy: setuptools writes build/ and *.egg-info beside the source.
        work = Path(tmp) / "src-root"
        work.mkdir()
        for name in BUILD_INPUTS:
            shutil.copy2(source / name, work / name)
        shutil.copytree(
            source / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", str(work), "--no-deps", "--no-build-isolation",
             "--disable-pip-version-check", "-q", "-w", str(out)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    wheels = sorted(out.glob("claude_bottle-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one claude-bottle wheel in {out}, found {wheels}")
    return wheels[0]


def install(wheel: Path, venv: Path, extras: tuple[str, ...] = ()) -> Path:
    """A new virtual environment holding `wheel` (and its extras); its CLI's path."""
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    requirement = f"{wheel}[{','.join(extras)}]" if extras else str(wheel)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, requirement], check=True, capture_output=True, text=True, env=cli_env(os.environ))
    return venv / "bin" / "claude-bottle"


def source_digest(source: Path = ROOT) -> str:
    h = hashlib.sha256()
    files = [source / n for n in BUILD_INPUTS] + sorted(
        p for p in (source / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    for path in files:
        h.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def cli_env(base: Mapping[str, str]) -> dict[str, str]:
    """`base` without what would make the installed interpreter import something
    other than what is installed (the checkout through PYTHONPATH)."""
    return {k: v for k, v in base.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}


def _built_for_this_checkout() -> Path:
    digest = source_digest()
    cache = Path(tempfile.gettempdir()) / f"claude-bottle-tests-{os.getuid()}" / digest
    cli = cache / "venv" / "bin" / "claude-bottle"
    if not cli.exists():
        wheel = build_wheel(ROOT, cache / "dist")
        install(wheel, cache / "venv", ("kubernetes",))
    return cli


def interpreter_of(cli: Path) -> str:
    first = cli.read_text().splitlines()[0]
    if not first.startswith("#!"):
        raise RuntimeError(f"{cli} is not a script with an interpreter line")
    return first[2:].strip()


def check_installed(cli: Path) -> None:
    """Fail unless `cli` is an installation's entry point, not this checkout."""
    if not cli.is_file():
        raise RuntimeError(f"{cli}: no such claude-bottle")
    if cli.resolve().is_relative_to(ROOT):
        raise RuntimeError(f"{cli} is in the checkout ({ROOT}), not an installation")
    found = subprocess.run(
        [interpreter_of(cli), "-c", "import claude_bottle; print(claude_bottle.__file__)"],
        capture_output=True, text=True, check=True, env=cli_env(os.environ), cwd="/",
    ).stdout.strip()  # fmt: skip
    if Path(found).resolve().is_relative_to(ROOT):
        raise RuntimeError(f"{cli} imports claude_bottle from the checkout ({found})")


@functools.cache
def installed_cli() -> Path:
    named = os.environ.get(ENV_VAR)
    cli = Path(named) if named else _built_for_this_checkout()
    check_installed(cli)
    return cli


def cli_path() -> str:
    """The installed `claude-bottle` (for pexpect.spawn, which takes the program apart)."""
    return str(installed_cli())


def cli_argv(*args: str) -> list[str]:
    """The argv of the installed `claude-bottle` with `args`."""
    return [str(installed_cli()), *args]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--extras", default="")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="claude-bottle-dist-") as dist:
        wheel = build_wheel(args.source.resolve(), Path(dist))
        cli = install(wheel, args.venv.resolve(), tuple(e for e in args.extras.split(",") if e))
    check_installed(cli)
    print(cli)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
