"""The labelling protocol a project remembers: policy and its numbers, the gold rate, and whether the live
posterior is hidden while comparing. Stored in the project's settings table (ageapp.store.settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlite_utils

from ageapp.core.selection import POLICIES, Protocol
from ageapp.store.settings import get_setting, set_setting

MAX_GOLD_RATE = 0.5  # at most every second pair a gold check: beyond that the queries hardly move


@dataclass(frozen=True)
class LabellingSettings:
    protocol: Protocol = field(default_factory=Protocol)
    gold_rate: float = 0.1
    hide_posterior: bool = False

    def __post_init__(self):
        if not 0.0 <= self.gold_rate <= MAX_GOLD_RATE:
            raise ValueError(f"the gold rate must lie between 0 and {MAX_GOLD_RATE}, not {self.gold_rate}")

    def describe(self) -> str:
        """One line for the window: what the protocol does, in words."""
        if self.protocol.policy == "paper":
            text = f"Paper protocol: {self.protocol.comparisons} references per query"
        else:
            text = (f"Active protocol: until the 90% interval is ≤ {self.protocol.target_width} years "
                    f"or {self.protocol.max_comparisons} references")
        gold = f"gold check 1 in {round(1 / self.gold_rate)}" if self.gold_rate > 0 else "no gold checks"
        return f"{text} · {gold}"


def load_labelling_settings(db: sqlite_utils.Database) -> LabellingSettings:
    """The project's settings; a stored value that no longer makes sense falls back to the defaults."""
    policy = get_setting(db, "protocol")
    try:
        protocol = Protocol(
            policy=policy if policy in POLICIES else "active",
            comparisons=int(get_setting(db, "comparisons")),
            target_width=int(get_setting(db, "target_width")),
            max_comparisons=int(get_setting(db, "max_comparisons")),
        )
        return LabellingSettings(protocol, float(get_setting(db, "gold_rate")), bool(get_setting(db, "hide_posterior")))
    except (TypeError, ValueError):
        return LabellingSettings()


def save_labelling_settings(db: sqlite_utils.Database, settings: LabellingSettings) -> None:
    with db.atomic():
        set_setting(db, "protocol", settings.protocol.policy)
        set_setting(db, "comparisons", settings.protocol.comparisons)
        set_setting(db, "target_width", settings.protocol.target_width)
        set_setting(db, "max_comparisons", settings.protocol.max_comparisons)
        set_setting(db, "gold_rate", settings.gold_rate)
        set_setting(db, "hide_posterior", settings.hide_posterior)
