"""What a user installs holds every file the package reads: the wheel and the
sdist are built (offline, as `pip wheel .` and `python -m build --sdist` build
them) and read back against package_data.FILES, which must name every file
under data/. A lost file is one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from importlib import metadata, resources
from pathlib import Path

import pytest

from claude_bottle import agent_image, package_data
from claude_bottle.cli.main import main
from tests.installed import ROOT, build_wheel, copy_for_build

PACKAGE = ROOT / "src" / "claude_bottle"


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    wheel = build_wheel(ROOT, tmp_path_factory.mktemp("dist"))
    return set(zipfile.ZipFile(wheel).namelist())


@pytest.fixture(scope="module")
def sdist_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("sdist")
    work = copy_for_build(ROOT, out / "work")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(work)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (sdist,) = out.glob("claude_bottle-*.tar.gz")
    with tarfile.open(sdist) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


def test_every_file_under_data_is_named_and_every_name_exists() -> None:
    shipped = {
        str(p.relative_to(PACKAGE))
        for p in (PACKAGE / "data").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped == set(package_data.FILES)
    assert len(shipped) >= 3  # the agent's Dockerfile, Squid's Dockerfile and entrypoint


def test_the_wheel_holds_every_file_the_package_reads(wheel_names: set[str]) -> None:
    missing = [name for name in package_data.FILES if f"claude_bottle/{name}" not in wheel_names]
    assert missing == []
    assert "claude_bottle/py.typed" in wheel_names


def test_the_wheel_carries_the_licence_and_the_entry_point(wheel_names: set[str]) -> None:
    dist_info = {n.split("/", 1)[1] for n in wheel_names if n.startswith("claude_bottle-")}
    assert "licenses/LICENSE" in dist_info
    assert "entry_points.txt" in dist_info


def test_the_sdist_holds_every_file_the_package_reads(sdist_names: set[str]) -> None:
    missing = [name for name in package_data.FILES if f"src/claude_bottle/{name}" not in sdist_names]
    assert missing == []
    assert {"LICENSE", "README.md", "CHANGELOG.md", "CONTRIBUTING.md", "pyproject.toml"} <= sdist_names
    # Every page the README links to, so its links hold in the sdist too.
    docs = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert docs
    assert docs <= sdist_names


def test_the_built_artifacts_pass_twine_check(tmp_path: Path) -> None:
    """The metadata a package index validates (README rendering, classifiers, licence)."""
    work = copy_for_build(ROOT, tmp_path / "work")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(work)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    artifacts = sorted(str(p) for p in dist.iterdir())
    assert len(artifacts) == 2, artifacts
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *artifacts], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_named_file_is_read_from_the_installation() -> None:
    for name in package_data.FILES:
        assert package_data.read(name) == (PACKAGE / name).read_bytes()


def test_a_name_outside_the_list_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not among the package's data files"):
        package_data.read("data/nothing")


@pytest.fixture
def installation_without_squid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The package's files as an installation that lost data/squid/ (the wheel of
    a package-data rule of `data/*`)."""
    copy = tmp_path / "claude_bottle"
    (copy / "data").mkdir(parents=True)
    (copy / "data" / "Dockerfile").write_bytes((PACKAGE / "data" / "Dockerfile").read_bytes())
    monkeypatch.setattr(resources, "files", lambda _package: copy)
    return copy


def test_a_missing_file_is_one_line(installation_without_squid: Path) -> None:
    with pytest.raises(package_data.IncompleteInstallation) as caught:
        package_data.read(package_data.SQUID_DOCKERFILE)
    assert str(caught.value) == (
        f"this installation is incomplete: {installation_without_squid / 'data/squid/Dockerfile'} "
        "is missing; reinstall claude-bottle"
    )
    assert caught.value.exit_code == 1


def test_an_unreadable_file_is_one_line(installation_without_squid: Path) -> None:
    (installation_without_squid / "data" / "squid").mkdir()
    (installation_without_squid / "data" / "squid" / "Dockerfile").mkdir()  # a folder: unreadable as a file
    with pytest.raises(
        package_data.IncompleteInstallation, match=r"Dockerfile cannot be read \(.*\); reinstall"
    ):
        package_data.read(package_data.SQUID_DOCKERFILE)


def test_build_on_an_incomplete_installation_says_so_in_one_line(
    installation_without_squid: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = tmp_path / "docker"  # answers `version`: the engine is there, the installation is not whole
    fake.write_text('#!/bin/sh\n[ "$1" = version ] && echo 27.0.0\nexit 0\n')
    fake.chmod(0o755)
    monkeypatch.setenv("CLAUDE_BOTTLE_DOCKER", str(fake))
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"claude-bottle: this installation is incomplete: "
        f"{installation_without_squid / 'data/squid/Dockerfile'} is missing; reinstall claude-bottle\n"
    )


def test_version_is_the_distributions_and_names_claude_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    expected = metadata.version("claude-bottle")
    assert out == f"claude-bottle {expected} (Claude Code {agent_image.CLAUDE_CODE_VERSION})\n"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'\nversion = "{expected}"\n' in pyproject
