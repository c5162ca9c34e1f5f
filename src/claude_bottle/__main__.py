from __future__ import annotations

from claude_bottle.cli.main import main_entry

main_entry()
