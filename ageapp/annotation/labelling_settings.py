"""The labelling protocol a project remembers: policy and its numbers, the gold rate, whether the live
posterior is hidden while comparing, and the posterior's prior (uniform, or the model's to a power: core.prior).
Stored in the project's settings table (ageapp.store.settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlite_utils

from ageapp.annotation.events import EventBus, QueriesChanged
from ageapp.core.prior import MODEL, PRIOR_POWER_DEFAULT, PRIORS, UNIFORM, check_power
from ageapp.core.selection import POLICIES, Protocol
from ageapp.store.posteriors import refresh_posteriors
from ageapp.store.priors import prior_choice
from ageapp.store.settings import get_setting, set_setting

MAX_GOLD_RATE = 0.5  # at most every second pair a gold check: beyond that the queries hardly move


@dataclass(frozen=True)
class LabellingSettings:
    protocol: Protocol = field(default_factory=Protocol)
    gold_rate: float = 0.1
    hide_posterior: bool = False
    prior: str = UNIFORM  # "uniform" (the paper's) or "model" (the age model's posterior for the face)
    prior_power: float = PRIOR_POWER_DEFAULT  # with the model prior: its posterior to this power, renormalised

    def __post_init__(self):
        if not 0.0 <= self.gold_rate <= MAX_GOLD_RATE:
            raise ValueError(f"the gold rate must lie between 0 and {MAX_GOLD_RATE}, not {self.gold_rate}")
        if self.prior not in PRIORS:
            raise ValueError(f"the prior must be one of {', '.join(PRIORS)}, not {self.prior!r}")
        check_power(self.prior_power)

    def describe(self) -> str:
        """One line for the window: what the protocol does, in words."""
        if self.protocol.policy == "paper":
            text = f"Paper protocol: {self.protocol.comparisons} references per query"
        else:
            text = (f"Active protocol: until the 90% interval is ≤ {self.protocol.target_width} years "
                    f"or {self.protocol.max_comparisons} references")
        gold = f"gold check 1 in {round(1 / self.gold_rate)}" if self.gold_rate > 0 else "no gold checks"
        prior = f" · model prior ^{self.prior_power:g}" if self.prior == MODEL else ""
        return f"{text} · {gold}{prior}"


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
        choice = prior_choice(db)
        return LabellingSettings(protocol, float(get_setting(db, "gold_rate")), bool(get_setting(db, "hide_posterior")),
                                 choice.kind, choice.power)
    except (TypeError, ValueError):
        return LabellingSettings()


def save_labelling_settings(db: sqlite_utils.Database, settings: LabellingSettings,
                            events: EventBus | None = None) -> bool:
    """Remember the settings; a change of prior recomputes every stored posterior under the new one (and tells
    `events`, so that the views follow). True when posteriors were recomputed."""
    before = prior_choice(db)
    with db.atomic():
        set_setting(db, "protocol", settings.protocol.policy)
        set_setting(db, "comparisons", settings.protocol.comparisons)
        set_setting(db, "target_width", settings.protocol.target_width)
        set_setting(db, "max_comparisons", settings.protocol.max_comparisons)
        set_setting(db, "gold_rate", settings.gold_rate)
        set_setting(db, "hide_posterior", settings.hide_posterior)
        set_setting(db, "prior", settings.prior)
        set_setting(db, "prior_power", float(settings.prior_power))
        changed = prior_choice(db) != before
        if changed:
            refresh_posteriors(db, force=True)
    if changed and events is not None:
        events.emit(QueriesChanged("prior changed: posteriors recomputed"))
    return changed
