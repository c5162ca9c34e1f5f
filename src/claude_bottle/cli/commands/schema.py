"""claude-bottle schema: print the manifest's JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

from claude_bottle.manifest.schema import manifest_schema


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="print the JSON Schema of claude-bottle.json")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(manifest_schema(), indent=2))
    return 0
