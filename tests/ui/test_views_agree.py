"""Every view of the labelling window tells the same story: the state machine of tests/ui/views_agree.py in a short
profile (at least 300 steps), and each sequence it found, kept as a regression test.

The long profile (5,000 steps) is `QT_QPA_PLATFORM=offscreen python benchmarks/views_agree.py --steps 5000`."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from ageapp.core.selection import Protocol

from tests.ui.views_agree import STEPS, ViewsAgree

SHORT = settings(max_examples=7, stateful_step_count=50, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))


def test_every_view_agrees_with_the_project_over_random_labelling(qapp):
    before = STEPS["count"]
    run_state_machine_as_test(ViewsAgree, settings=SHORT)
    assert STEPS["count"] - before >= 300


# ------------------------------------------------------------------------------------------------------------
# Sequences the machine found, kept: each failed before its fix.

ACTIVE = Protocol("active")
SHORT_ACTIVE = Protocol("active", target_width=4, max_comparisons=6)


def replay(*steps, then=None, **opening):
    """Run these steps of the machine (name, arguments) with every check after each, on a fresh window; then
    `then(machine)` before the window goes."""
    machine = ViewsAgree()
    try:
        machine.open_window(**{"protocol": ACTIVE, "gold_rate": 0.0, "seed": 0, "queries": 4, **opening})
        machine.every_view_tells_what_the_project_says()
        for name, arguments in steps:
            getattr(machine, name)(**arguments)
            machine.every_view_tells_what_the_project_says()
        if then is not None:
            then(machine)
    finally:
        machine.teardown()


def test_adopting_a_beta_for_a_labeller_whose_answers_were_all_undone(qapp):
    # the preview's median width was None: the dialog's text raised TypeError and the β could not be adopted
    def adopted(machine):
        assert machine.patched.messages[-1].startswith("β adopted")

    replay(("answer", {"choice": "left", "times": 1}), ("undo", {}), ("adopt_a_study_beta", {"beta": 1.0}),
           then=adopted)


def test_a_query_sent_back_is_neither_flagged_nor_finished_in_the_queues_filters(qapp):
    # "Flagged only" still listed a query sent back (the dock counted it "sent back"), and "Unfinished only" left
    # it out while it was being labelled again
    replay(("answer", {"choice": "unsure", "times": 4}), ("answer", {"choice": "unsure", "times": 2}),
           ("send_flagged_back", {}), ("toggle_filter", {"which": "flagged_only"}),
           ("toggle_filter", {"which": "flagged_only"}), ("toggle_filter", {"which": "unfinished_only"}),
           protocol=SHORT_ACTIVE)


def test_the_models_prior_stored_when_a_started_query_is_served_again(qapp):
    # switching to the model's prior served the started query again, which stored its prior and recomputed its
    # posterior without a word: the plot, the counts and the queue kept the uniform-prior posterior
    replay(("answer", {"choice": "left", "times": 2}),
           ("change_the_protocol_or_prior", {"protocol": ACTIVE, "prior": "model"}))


def test_picking_the_queues_current_row_again_shows_that_query(qapp):
    # a click on the row already current changed nothing: the plot and the pair stayed on the last answered query
    replay(("pick_in_the_queue", {"row": 1}), ("answer", {"choice": "unsure", "times": 4}),
           ("answer", {"choice": "unsure", "times": 3}), ("pick_in_the_queue", {"row": 1}), protocol=SHORT_ACTIVE)


def test_one_answer_does_not_flag_its_query_on_the_plot(qapp):
    # every new query was "flagged: wider than 15 years" in red on the plot after one answer, while the dock said
    # flagged 0 (and `ageapp stats` said otherwise again): the plot now says what the status rule says
    def not_flagged(machine):
        assert "flagged" not in machine.page.plot.getPlotItem().titleLabel.text

    replay(("answer", {"choice": "left", "times": 1}), then=not_flagged)
