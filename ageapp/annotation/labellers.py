"""Who is labelling a project that opens: the window asks again whenever the project's own last labeller is not
the one this computer remembers (another person's part of a team split, the lead's merged project), and on a
team part nobody has answered in yet; otherwise the remembered labeller goes on without a question. No Qt."""

from __future__ import annotations

import sqlite_utils

from ageapp.annotation.team import recorded_split
from ageapp.store.annotators import list_annotators
from ageapp.store.statistics import answer_times


def last_labeller(db: sqlite_utils.Database) -> str | None:
    """The name of whoever gave the project's most recent answer (None: no answer yet); one indexed look-up per
    labeller, so that opening a project with millions of answers does not wait for it."""
    latest = []
    for row in list_annotators(db):
        times = answer_times(db, row["id"], 1)
        if len(times):
            latest.append((float(times[0]), row["name"]))
    return max(latest)[1] if latest else None


def labeller_to_ask(db: sqlite_utils.Database, remembered: str | None) -> tuple[bool, str | None]:
    """(ask who is labelling?, the project's last labeller). Asked when nobody is remembered, when the project's
    last answers are someone else's, and on a part of a team split without any answer yet (a part is made to be
    given to another labeller)."""
    last = last_labeller(db)
    if not remembered:
        return True, last
    if last is not None:
        return last != remembered, last
    _split, part = recorded_split(db)
    return part is not None, None
