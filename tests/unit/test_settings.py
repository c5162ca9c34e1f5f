"""One settings object: every CLAUDE_BOTTLE_* variable is read by settings.py
alone, and the table of overrides in docs/manifest.md lists exactly those; the agent
image's facts match its Dockerfile."""

from __future__ import annotations

import ast
import re
from importlib import resources
from pathlib import Path

import pytest

from claude_bottle import agent_image
from claude_bottle.settings import ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "claude_bottle"


def documented_settings() -> set[str]:
    """The variables named in the first column of docs/manifest.md's table of
    environment overrides (its section ends at the next heading, or the file's end)."""
    text = (ROOT / "docs" / "manifest.md").read_text()
    section = text[text.index("\n## Environment overrides\n") + 1 :]
    section = section.split("\n#", 1)[0]
    return set(re.findall(r"^\| `(CLAUDE_BOTTLE_[A-Z0-9_]+)", section, re.MULTILINE))


def test_the_documented_table_lists_every_setting_and_nothing_else() -> None:
    assert documented_settings() == set(ENVIRONMENT.values())


def _reads_outside_settings() -> list[str]:
    """`environ.get("CLAUDE_BOTTLE_...")` or `environ["CLAUDE_BOTTLE_..."]` anywhere but settings.py."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "settings.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            key = None
            getter = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if getter and isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get":
                key = node.args[0] if node.args else None
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                key = node.slice
            if isinstance(key, ast.Constant) and str(key.value).startswith("CLAUDE_BOTTLE_"):
                found.append(f"{path.relative_to(SRC)}:{getattr(node, 'lineno', '?')}")
    return found


def test_nothing_else_reads_a_setting() -> None:
    assert _reads_outside_settings() == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, Settings(), id="nothing-set"),
        pytest.param(
            {"CLAUDE_BOTTLE_IMAGE": "mine:1", "CLAUDE_BOTTLE_CONTAINER": ""},
            Settings(image="mine:1"),
            id="empty-is-unset",
        ),
        pytest.param(
            {"CLAUDE_BOTTLE_DRY_RUN": "yes", "CLAUDE_BOTTLE_VERBOSE": "1", "CLAUDE_BOTTLE_DEBUG": "yes"},
            Settings(verbose=True, debug=True),
            id="switches-that-mean-1-and-those-that-mean-set",
        ),
        pytest.param(
            {"CLAUDE_BOTTLE_OAUTH_TOKEN": "sk-secret", "CLAUDE_BOTTLE_LABELS": " ci=1 "},
            Settings(oauth_token=True, labels=" ci=1 "),
            id="token-as-presence-only",
        ),
    ],
)
def test_read_from_the_environment(environ: dict[str, str], expected: Settings) -> None:
    settings = Settings.from_environ(environ)
    assert settings == expected
    assert "sk-secret" not in repr(settings)


def test_every_field_has_its_environment_name() -> None:
    assert all(name.startswith("CLAUDE_BOTTLE_") for name in ENVIRONMENT.values())
    assert len(set(ENVIRONMENT.values())) == len(ENVIRONMENT)


def test_the_agent_image_facts_match_its_dockerfile() -> None:
    dockerfile = resources.files("claude_bottle").joinpath("data/Dockerfile").read_text()
    assert f"ARG NODE_UID={agent_image.UID}" in dockerfile
    assert re.search(rf'useradd .*--uid "\$\{{NODE_UID\}}" .*{agent_image.USER}\b', dockerfile)
    assert f"USER {agent_image.USER}\n" in dockerfile
    assert f"WORKDIR {agent_image.WORKSPACE}\n" in dockerfile
    assert agent_image.WORKSPACE.startswith(agent_image.HOME + "/")
