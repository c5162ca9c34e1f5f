"""claude-bottle init: write a starter manifest (never over an existing file)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from claude_bottle.console import info
from claude_bottle.errors import UsageError
from claude_bottle.manifest.defaults import STARTER_MANIFEST
from claude_bottle.manifest.locate import MANIFEST_NAME
from claude_bottle.manifest.parse import load_manifest_file
from claude_bottle.manifest.trust import record_trust


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help=f"write a starter {MANIFEST_NAME} in the current folder")
    p.add_argument("--path", help=f"where to write it (default ./{MANIFEST_NAME})")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    target = Path(args.path or MANIFEST_NAME)
    text = json.dumps(STARTER_MANIFEST, indent=2) + "\n"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(f"{target} already exists; not overwriting it") from None
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    # The user made this file with us, so its content is theirs: trusted as
    # written. A change to it (theirs or anyone's) needs `claude-bottle trust`.
    record_trust(load_manifest_file(target.resolve(), args.paths.home), args.paths)
    info(
        f"wrote {target} (trusted as written; after editing it, review and run 'claude-bottle trust'); "
        "check it with 'claude-bottle validate', then start with 'claude-bottle start claude'"
    )
    return 0
