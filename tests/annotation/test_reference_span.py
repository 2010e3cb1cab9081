"""The references' age span is kept between answers and read again after a gender change, before any other
listener of that event reads it."""

from __future__ import annotations

from ageapp.annotation.events import EventBus, GenderCorrected, QueriesChanged
from ageapp.annotation.reference_span import ReferenceSpans
from ageapp.store.posteriors import reference_age_ranges
from tests.factories import make_project


def test_the_span_is_kept_until_genders_change_and_is_fresh_for_every_listener(tmp_path):
    db, references, _queries, _ = make_project(tmp_path / "p.ageproj", references=10, queries=2, age_max=70)
    bus = EventBus()
    seen = []
    bus.subscribe(lambda event: seen.append(spans.get()))  # a view that reads the span when it hears the event
    spans = ReferenceSpans(db, 70, bus)  # subscribed after the view, heard before it (first=True)
    first = spans.get()
    assert first == reference_age_ranges(db, 70)
    with db.atomic():  # a reference older than all others, written behind the cache's back
        db.execute("UPDATE images SET age = 69, age_min = 69, age_max = 69 WHERE id = ?", [references[0]])
    assert spans.get() is first  # kept: no event said the references changed
    bus.emit(QueriesChanged("genders predicted"))
    assert seen[-1] == reference_age_ranges(db, 70) and seen[-1][None][1] == 69  # fresh for the listener
    with db.atomic():
        db.execute("UPDATE images SET age = 68, age_min = 68, age_max = 68 WHERE id = ?", [references[0]])
    bus.emit(GenderCorrected(references[0], None))
    assert seen[-1][None][1] == max(68, *(db.execute("SELECT max(age) FROM images WHERE role = 'reference' AND id != ?",
                                                     [references[0]]).fetchone()))
    spans.unsubscribe()
    assert len(bus._subscribers) == 1
