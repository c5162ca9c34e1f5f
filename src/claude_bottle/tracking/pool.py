"""The warm pool's host-side record: one file per ready bottle, taken by a claim.

A keeper (session/pool_keeper.py) publishes a bottle it made ready as a file in
`ready/`; a claimer takes it by renaming it into `claimed/`. A rename is atomic
within a folder tree: of two claimers of the same file exactly one succeeds,
the other finds it gone and tries the next. A claimed bottle is never
published again (the keeper makes a new one). The files hold names and
addresses only, never a value of the agent's."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from claude_bottle.tracking.labels import Owner
from claude_bottle.tracking.owner import owner_alive


@dataclass(frozen=True)
class ReadyBottle:
    """A pooled bottle: its session id and objects, and the keeper that owns it."""

    session_id: str
    container: str
    sidecar: str
    network: str
    subnet: str
    sidecar_ip: str  # "" where the agent reaches the sidecar by name
    keeper: Owner

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReadyBottle:
        raw = json.loads(text)
        return cls(**{**raw, "keeper": Owner(**raw["keeper"])})


@dataclass(frozen=True)
class PoolFolder:
    """The pool of one configuration (its key) under the state folder."""

    root: Path  # <state>/pool/<key>

    @classmethod
    def of(cls, state: Path, key: str) -> PoolFolder:
        return cls(state / "pool" / key)

    @property
    def ready(self) -> Path:
        return self.root / "ready"

    @property
    def claimed(self) -> Path:
        return self.root / "claimed"

    @property
    def keeper_file(self) -> Path:
        return self.root / "keeper.json"

    def publish(self, bottle: ReadyBottle) -> None:
        """Make `bottle` claimable: written aside, then renamed in whole."""
        self.ready.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".{bottle.session_id}.partial"
        partial.write_text(bottle.to_json())
        os.rename(partial, self.ready / bottle.session_id)

    def waiting(self) -> list[str]:
        """The session ids of the ready bottles, oldest first."""
        try:
            entries = list(self.ready.iterdir())
        except FileNotFoundError:
            return []
        return [p.name for p in sorted(entries, key=_mtime)]

    def take(self, session_id: str, claimer: Owner) -> ReadyBottle | None:
        """Claim one ready bottle: None when another claimer took it first."""
        self.claimed.mkdir(parents=True, exist_ok=True)
        target = self.claimed / session_id
        try:
            os.rename(self.ready / session_id, target)
        except FileNotFoundError:
            return None
        bottle = ReadyBottle.from_json(target.read_text())
        # The claimer's name beside it: `cleanup` leaves a claimed bottle to its live claimer.
        target.write_text(json.dumps({**json.loads(bottle.to_json()), "claimer": asdict(claimer)}))
        return bottle

    def claim(self, claimer: Owner) -> ReadyBottle | None:
        """The oldest ready bottle whose keeper still runs, taken; None when none is."""
        for session_id in self.waiting():
            bottle = self.take(session_id, claimer)
            if bottle is None:
                continue
            if owner_alive(bottle.keeper):
                return bottle
            self.release(session_id)  # its keeper died: `cleanup` removes its objects
        return None

    def claims(self) -> list[tuple[str, Owner | None, float]]:
        """The claimed bottles: session id, claimer (None before it is written), age in seconds."""
        try:
            entries = list(self.claimed.iterdir())
        except FileNotFoundError:
            return []
        out = []
        for path in entries:
            try:
                claimer = json.loads(path.read_text()).get("claimer")
                age = time.time() - path.stat().st_mtime
            except (OSError, ValueError):
                continue
            out.append((path.name, Owner(**claimer) if claimer else None, age))
        return out

    def release(self, session_id: str) -> None:
        """Forget a claimed bottle (its session is over)."""
        (self.claimed / session_id).unlink(missing_ok=True)


@dataclass(frozen=True)
class Claim:
    """A ready bottle a session took, until the session ends."""

    folder: PoolFolder
    bottle: ReadyBottle

    def release(self) -> None:
        self.folder.release(self.bottle.session_id)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def claimer_of(state: Path, session_id: str) -> Owner | None:
    """The process that claimed this pooled session, if one did: the session is
    then its own, though the objects' labels name the keeper that made them."""
    for claimed in (state / "pool").glob(f"*/claimed/{session_id}"):
        try:
            claimer = json.loads(claimed.read_text()).get("claimer")
        except (OSError, ValueError):
            continue
        if claimer:
            return Owner(**claimer)
    return None


def claimant_alive(state: Path, session_id: str) -> bool:
    """True when a live process claimed this pooled session."""
    claimer = claimer_of(state, session_id)
    return claimer is not None and owner_alive(claimer)


def write_keeper(folder: PoolFolder, keeper: Owner, name: str, size: int) -> None:
    folder.root.mkdir(parents=True, exist_ok=True)
    partial = folder.root / ".keeper.partial"
    partial.write_text(json.dumps({"owner": asdict(keeper), "name": name, "size": size}))
    os.rename(partial, folder.keeper_file)


def ready_sessions(state: Path) -> frozenset[str]:
    """The session ids of every warm pool's ready bottles: not sessions yet."""
    return frozenset(p.name for p in (state / "pool").glob("*/ready/*"))


def pools_of(state: Path, agent: str) -> list[PoolFolder]:
    """The pools whose keeper was started for `agent` (its record names it), alive or not."""
    found = []
    for record in sorted((state / "pool").glob("*/keeper.json")):
        with contextlib.suppress(OSError, ValueError):
            if json.loads(record.read_text()).get("name") == agent:
                found.append(PoolFolder(record.parent))
    return found


def read_keeper(folder: PoolFolder) -> Owner | None:
    """The keeper of this pool, when one was started and still runs."""
    try:
        owner = Owner(**json.loads(folder.keeper_file.read_text())["owner"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner if owner_alive(owner) else None
