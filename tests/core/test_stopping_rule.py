"""The active protocol's stopping rule means the same at 1 year as at 40 (ageapp.core.selection.target_width_at):
the 90% interval's width in years for an adult, the same share of the age below 20 (at most 40% of the interval's
upper end by default), never below 2 years; the SQL of ageapp.store.progress states the same rule."""

from __future__ import annotations

import sqlite3

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ageapp.core.posterior import credible_intervals
from ageapp.core.selection import (ACTIVE, MIN_TARGET_WIDTH, RELATIVE_BELOW_AGE, Protocol, ReferencePool,
                                   ShownComparison, next_reference, protocol_finished, query_posterior,
                                   target_width_at)
from ageapp.store.progress import finished_sql

DEFAULT = Protocol(ACTIVE)  # 8 years, 12 comparisons


def test_the_target_by_hand():
    # adults: 8 years whatever the age; below 20: 8 x upper end / 20; never below 2
    assert target_width_at(DEFAULT, [20, 40, 90]).tolist() == [8.0, 8.0, 8.0]
    assert target_width_at(DEFAULT, [15, 10, 8, 5, 2, 0]).tolist() == [6.0, 4.0, 3.2, 2.0, 2.0, 2.0]
    assert target_width_at(Protocol(ACTIVE, target_width=4), [10]).tolist() == [2.0]
    assert target_width_at(Protocol(ACTIVE, target_width=1), [0]).tolist() == [1.0]  # a target below the floor
    assert target_width_at(Protocol(ACTIVE, target_width=15, relative_below=0), [3]).tolist() == [15.0]
    assert (RELATIVE_BELOW_AGE, MIN_TARGET_WIDTH) == (20, 2)


def test_a_one_year_old_at_0_to_8_is_not_finished_where_a_forty_year_old_at_36_to_44_is():
    assert protocol_finished(DEFAULT, 36, 44, 5)
    assert not protocol_finished(DEFAULT, 0, 8, 5)  # the interval a 1-year-old was "finished" at
    assert protocol_finished(DEFAULT, 0, 2, 5) and not protocol_finished(DEFAULT, 0, 3, 5)
    assert protocol_finished(DEFAULT, 6, 9, 5) and not protocol_finished(DEFAULT, 5, 9, 5)  # 9 x 0.4 = 3.6
    assert protocol_finished(DEFAULT, 0, 8, 12)  # the most comparisons still end it


def test_labelling_a_one_year_old_goes_on_until_it_is_told_apart_from_a_child_of_eight():
    """The active protocol on a 1-year-old, answered truthfully by a labeller of the paper's β: under the rule in
    years it stopped at 0-8 after a handful of comparisons; now it asks until the interval is a few years wide
    or the most comparisons are reached, and the last interval is narrower than the years rule's."""
    references = ReferencePool.build(list(range(71)), [float(a) for a in range(71)])
    rng = np.random.default_rng(0)
    years_rule = Protocol(ACTIVE, relative_below=0)
    shown: list[ShownComparison] = []
    stopped_by_years = None
    while not protocol_finished(DEFAULT, *_interval(shown), len(shown)):
        if stopped_by_years is None and protocol_finished(years_rule, *_interval(shown), len(shown)):
            stopped_by_years = (len(shown), _interval(shown))
        reference = next_reference(DEFAULT, references, shown, None, rng, age_max=70)
        # truthful: the 1-year-old is younger than every reference of 2 or more, older than the newborns
        shown.append(ShownComparison(reference, float(reference), 1 if reference < 1 else 0))
    low, high = _interval(shown)
    assert stopped_by_years is not None and stopped_by_years[1][1] - stopped_by_years[1][0] > high - low
    assert len(shown) > stopped_by_years[0]
    assert high <= 3 or len(shown) == DEFAULT.max_comparisons


def _interval(shown) -> tuple[int, int]:
    if not shown:
        return 0, 70
    low, high = credible_intervals(query_posterior(shown, 70)[None, :])
    return int(low[0]), int(high[0])


@settings(max_examples=300, deadline=None)
@given(low=st.integers(0, 100), span=st.integers(0, 100), count=st.integers(0, 20),
       beyond=st.sampled_from([0.0, 0.5, 0.95]), target=st.integers(0, 20), most=st.integers(1, 15),
       relative_below=st.sampled_from([0, 10, 20]))
def test_the_sql_states_the_same_rule(low, span, count, beyond, target, most, relative_below):
    protocol = Protocol(ACTIVE, target_width=target, max_comparisons=most, relative_below=relative_below)
    high = low + span
    condition, params = finished_sql(protocol)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE p (query_image_id, ci_low, ci_high, n_comparisons, beyond_mass)")
    db.execute("INSERT INTO p VALUES (1, ?, ?, ?, ?)", [low, high, count, beyond])
    in_sql = bool(db.execute(f"SELECT {condition} FROM p", params).fetchone()[0])
    assert in_sql == (count > 0 and protocol_finished(protocol, low, high, count, beyond))
