"""Every session record a test run wrote, checked: each line valid against the
record's JSON Schema (claude_bottle.workspace.record_schema), and the whole
chain intact (workspace.record.verify). tests/conftest.py runs it over the
run's temporary folders at the end, so every suite's records are held to it."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

from claude_bottle.workspace.record import NAME, verify_file
from claude_bottle.workspace.record_schema import SCHEMA

VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())


def record_problems(path: Path) -> list[str]:
    problems = [f"{path}: {p}" for p in verify_file(path).problems]
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the chain's check says so
        problems += [f"{path}:{number}: {e.message}" for e in VALIDATOR.iter_errors(entry)]
    return problems


def check_records(root: Path) -> list[str]:
    """The problems of every record under `root` (none: [])."""
    problems: list[str] = []
    for path in sorted(root.rglob(NAME)):
        problems += record_problems(path)
    return problems
