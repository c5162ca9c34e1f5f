"""How long each phase of a session took, for --timings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class PhaseClock:
    """When each phase of a session ended (monotonic seconds), for --timings."""

    start: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, phase: str) -> None:
        self.marks[phase] = time.monotonic()

    def durations(self) -> list[tuple[str, float]]:
        out, last = [], self.start
        for phase, at in self.marks.items():
            out.append((phase, at - last))
            last = at
        return out
