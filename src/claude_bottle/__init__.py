"""claude-bottle: run a coding agent in a container whose only way out is an egress proxy."""

from __future__ import annotations

__version__ = "0.1.0"
