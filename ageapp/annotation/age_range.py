"""A project's age range (every posterior covers ages 0..age_max): widened later without losing anything.

Narrowing is refused: it would cut the mass of posteriors above the new maximum, and clamp queries the answers
place there (the case issue 16 met: a 100-year-old marked "finished" at 62-70). Widening recomputes every
posterior over the new range in one transaction, from the answers (which never change), and says whether the
references span the range: a query older than every reference is then "beyond the references", not finished
at the edge."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from ageapp.store.posteriors import reference_age_ranges, refresh_posteriors
from ageapp.store.settings import get_setting, set_setting

AGE_MAX_LIMIT = 120  # the oldest documented human lived to 122: a range beyond this is a typing error


class AgeRangeError(ValueError):
    """The range cannot be set so (the message says what can be done)."""


@dataclass(frozen=True)
class AgeRange:
    age_max: int
    references: tuple[float, float] | None  # youngest and oldest reference with a face, within the range

    def describe(self) -> str:
        """'ages 0-100; references 0-69: queries older than 69 will be beyond the references'."""
        text = f"ages 0–{self.age_max}"
        if self.references is None:
            return text + "; no reference of known age yet"
        low, high = self.references
        text += f"; references {low:g}–{high:g}"
        gaps = []
        if low > 0:
            gaps.append(f"younger than {low:g}")
        if high < self.age_max:
            gaps.append(f"older than {high:g}")
        if gaps:
            text += (f": queries {' or '.join(gaps)} will be “beyond the references” (import references of those "
                     "ages to narrow them)")
        return text


def age_range(db: sqlite_utils.Database) -> AgeRange:
    age_max = int(get_setting(db, "age_max"))
    return AgeRange(age_max, reference_age_ranges(db, age_max)[None])


def widen_age_range(db: sqlite_utils.Database, age_max: int) -> int:
    """Set the range to 0..age_max (at least the present maximum) and recompute every posterior over it;
    returns how many were recomputed (0 when the range was already that)."""
    current = int(get_setting(db, "age_max"))
    if age_max < current:
        raise AgeRangeError(f"the age range can only be widened: it is 0–{current}, and narrowing it would cut "
                            f"the posteriors above {age_max}; give --age-max {current} or more")
    if age_max > AGE_MAX_LIMIT:
        raise AgeRangeError(f"an age range up to {age_max} is not a human one: give at most {AGE_MAX_LIMIT}")
    if age_max == current:
        return 0
    with db.atomic():
        set_setting(db, "age_max", int(age_max))
        return refresh_posteriors(db, force=True)
