"""After a crash: what to tell the labeller when a project is opened again.

The window writes a small record when it opens a project for writing (`OpenRecord`: which process, since when, how
many answers the project held) and removes it when it closes the project; one still there when the project opens
again was left by an ageapp that did not close properly (a crash, a power cut, a kill). Every answer is committed
before the next pair appears, so nothing given before the crash is lost; `recovery_notice` says so, with the
number of answers that session added that are in the project. No Qt: the window keeps the records in its
settings (ageapp.ui.shell.settings).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import sqlite_utils

from ageapp.store.progress import answer_counts


@dataclass(frozen=True)
class OpenRecord:
    host: str
    pid: int
    opened: str  # ISO time, UTC
    answers: int  # answers that counted when the project was opened (gold included)

    @classmethod
    def now(cls, db: sqlite_utils.Database) -> "OpenRecord":
        return cls(socket.gethostname(), os.getpid(), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   project_answers(db))

    def encode(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, text) -> "OpenRecord | None":
        try:
            data = json.loads(text)
            return cls(str(data["host"]), int(data["pid"]), str(data["opened"]), int(data["answers"]))
        except (TypeError, ValueError, KeyError):
            return None

    def left_by_another_run(self) -> bool:
        """Not this very process (which may open the same project twice without closing it in between)."""
        return (self.host, self.pid) != (socket.gethostname(), os.getpid())


def project_answers(db: sqlite_utils.Database) -> int:
    query_answers, gold_answers = answer_counts(db)
    return query_answers + gold_answers


def recovery_notice(record: OpenRecord, db: sqlite_utils.Database, answers_now: int | None = None) -> str:
    """What the window says when the project opens after a session that did not close properly (`answers_now`:
    the project's answers, if counted already)."""
    kept = max(0, (project_answers(db) if answers_now is None else answers_now) - record.answers)
    try:
        since = datetime.fromisoformat(record.opened).astimezone().strftime("%d %b %Y %H:%M")
    except ValueError:
        since = record.opened
    answers = f"{kept:,} answer{'' if kept == 1 else 's'}"
    return (f"ageapp did not close properly last time it had this project open (since {since}): it may have "
            f"crashed, or the computer stopped. Nothing answered then was lost: the {answers} given in that "
            "session are in the project (each answer is saved before the next pair appears); at most a pair that "
            "was on screen unanswered is asked again.")
