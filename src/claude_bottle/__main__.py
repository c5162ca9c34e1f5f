from __future__ import annotations

from claude_bottle.cli import main_entry

main_entry()
