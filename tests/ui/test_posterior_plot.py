"""The live plot: after show_posterior, its items hold exactly the posterior, summary and comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from ageapp.core.posterior import PosteriorSummary, posterior_from_comparisons, summarize
from ageapp.ui.common.posterior_plot import HEADROOM, PosteriorPlot


@pytest.fixture
def plot(qtbot) -> PosteriorPlot:
    widget = PosteriorPlot(age_max=70)
    qtbot.addWidget(widget)
    widget.resize(640, 320)
    widget.show()
    return widget


def lines_of(plot: PosteriorPlot, outcome) -> tuple[np.ndarray, np.ndarray]:
    x, y = plot.comparison_curves[outcome].getData()
    return (np.zeros(0), np.zeros(0)) if x is None else (x, y)


def test_show_posterior_sets_bars_interval_lines(plot):
    references, outcomes = [20, 45, 30, 25], [1, 0, None, 1]
    p = posterior_from_comparisons(references, outcomes, age_max=70)
    summary = summarize(p)
    plot.show_posterior(p, summary, list(zip(references, outcomes)))

    np.testing.assert_array_equal(plot.bars.opts["x"], np.arange(71))
    np.testing.assert_allclose(plot.bars.opts["height"], p)
    # The shaded region covers the bars of ages ci_low .. ci_high inclusive.
    assert plot.interval.getRegion() == (summary.ci_low - 0.5, summary.ci_high + 0.5)
    assert plot.mode_line.value() == summary.mode == int(np.argmax(p))
    assert plot.mean_line.value() == pytest.approx(float(np.dot(np.arange(71), p)))
    # The labels say the same (they were made while the lines were hidden: a stale "mode 0" was a bug).
    assert plot.mode_line.label.toPlainText() == f"mode {summary.mode}"
    assert plot.mean_line.label.toPlainText() == f"mean {summary.mean:.1f}"

    top = p.max() * HEADROOM
    x_older, y_older = lines_of(plot, 1)
    np.testing.assert_array_equal(x_older, [20, 20, 25, 25])  # one (k, 0)-(k, top) pair per comparison
    np.testing.assert_allclose(y_older, [0, top, 0, top])
    np.testing.assert_array_equal(lines_of(plot, 0)[0], [45, 45])
    np.testing.assert_array_equal(lines_of(plot, None)[0], [30, 30])
    assert plot.getPlotItem().getViewBox().viewRange()[1] == pytest.approx([0, top])
    assert plot.bars.isVisible() and plot.interval.isVisible()


def test_updates_reuse_the_same_items(plot):
    items_before = list(plot.getPlotItem().items)
    for count in range(1, 6):
        references = [10 * k for k in range(1, count + 1)]
        outcomes = [1] * count
        p = posterior_from_comparisons(references, outcomes, age_max=70)
        plot.show_posterior(p, summarize(p), list(zip(references, outcomes)))
    assert list(plot.getPlotItem().items) == items_before
    np.testing.assert_array_equal(lines_of(plot, 1)[0], np.repeat([10, 20, 30, 40, 50], 2))
    assert lines_of(plot, 0)[0].size == 0


def test_interval_follows_a_hand_made_summary(plot):
    p = np.zeros(71)
    p[30:41] = 1 / 11
    summary = PosteriorSummary(mode=33, mean=35.0, median=35, ci_low=31, ci_high=39, flagged=False)
    plot.show_posterior(p, summary, [])
    assert plot.interval.getRegion() == (30.5, 39.5)
    assert plot.mode_line.value() == 33 and plot.mean_line.value() == 35.0
    assert "31–39 (8 years)" in plot.getPlotItem().titleLabel.text


def test_flagged_posterior_says_so(plot):
    p = posterior_from_comparisons([], [], age_max=70)  # flat: a 90% interval of about 63 years
    summary = summarize(p)
    assert summary.flagged
    plot.show_posterior(p, summary, [])
    assert "flagged: wider than 15 years" in plot.getPlotItem().titleLabel.text


def test_age_max_follows_the_posterior_length(plot):
    p = posterior_from_comparisons([60], [1], age_max=116)
    plot.show_posterior(p, summarize(p), [(60, 1)])
    assert plot.age_max() == 116
    np.testing.assert_array_equal(plot.bars.opts["x"], np.arange(117))
    assert plot.getPlotItem().getViewBox().viewRange()[0] == pytest.approx([-0.5, 116.5])


def test_hidden_while_comparing_hides_the_posterior_but_keeps_it_current(plot):
    plot.set_hidden_while_comparing(True)
    p = posterior_from_comparisons([40], [0], age_max=70)
    plot.show_posterior(p, summarize(p), [(40, 0)])
    assert not plot.bars.isVisible()
    assert not plot.comparison_curves[0].isVisible()
    assert not plot.mode_line.isVisible()
    assert plot.hidden_text.isVisible()
    np.testing.assert_allclose(plot.bars.opts["height"], p)  # updated all the same
    plot.set_hidden_while_comparing(False)
    assert plot.bars.isVisible() and plot.comparison_curves[0].isVisible()
    assert not plot.hidden_text.isVisible()


def test_clear_empties_everything(plot):
    p = posterior_from_comparisons([40], [0], age_max=70)
    plot.show_posterior(p, summarize(p), [(40, 0)])
    plot.clear()
    np.testing.assert_array_equal(plot.bars.opts["height"], np.zeros(71))
    assert lines_of(plot, 0)[0].size == 0
    assert not plot.bars.isVisible()


def test_an_unknown_outcome_is_refused_and_changes_nothing(plot):
    p = posterior_from_comparisons([40], [0], age_max=70)
    plot.show_posterior(p, summarize(p), [(40, 0)])
    flat = posterior_from_comparisons([], [], age_max=70)
    with pytest.raises(ValueError, match="comparison outcome must be"):
        plot.show_posterior(flat, summarize(flat), [(30, "left")])
    np.testing.assert_allclose(plot.bars.opts["height"], p)
    np.testing.assert_array_equal(lines_of(plot, 0)[0], [40, 40])


def test_a_query_without_answers_says_so_and_is_not_called_flagged(plot):
    p = posterior_from_comparisons([], [], age_max=100)
    plot.show_posterior(p, summarize(p), [], no_answers=True)
    title = plot.getPlotItem().titleLabel.text
    assert "no answers yet" in title and "flagged" not in title


def test_references_at_one_age_show_their_count(plot):
    comparisons = [(7, 1), (7, 1), (7, 0), (30, 0), (12, None), (12, 1)]
    p = posterior_from_comparisons([c[0] for c in comparisons], [c[1] for c in comparisons], age_max=100)
    plot.show_posterior(p, summarize(p), comparisons)
    shown = sorted((label.pos().x(), label.toPlainText()) for label in plot.count_labels if label.isVisible())
    assert shown == [(7.0, "×3"), (12.0, "×2")]  # 30 has one reference: no count
    plot.show_posterior(p, summarize(p), [(40, 1)])
    assert not any(label.isVisible() for label in plot.count_labels)


def test_a_query_beyond_the_references_says_which_way(plot):
    p = posterior_from_comparisons([60, 65, 69], [1, 1, 1], age_max=100)
    summary = summarize(p, reference_range=(0, 69))
    assert summary.beyond == 1 and not summary.flagged
    plot.show_posterior(p, summary, [(60, 1), (65, 1), (69, 1)])
    title = plot.getPlotItem().titleLabel.text
    assert "beyond the references: older than 69" in title and "flagged" not in title


def test_the_prior_is_drawn_faintly_behind_and_hidden_with_the_posterior(plot):
    ages = np.arange(71)
    prior = np.exp(-0.5 * ((ages - 30) / 5.0) ** 2)
    prior /= prior.sum()
    p = prior * posterior_from_comparisons([28], [1], age_max=70)
    p /= p.sum()
    plot.show_posterior(p, summarize(p), [(28, 1)], prior=prior)
    x, y = plot.prior_curve.getData()
    np.testing.assert_array_equal(x, ages)
    np.testing.assert_allclose(y, prior)
    assert plot.prior_curve.isVisible() and plot.prior_curve.zValue() < plot.bars.zValue() + 1
    plot.set_hidden_while_comparing(True)  # the study setting hides the prior too
    assert not plot.prior_curve.isVisible()
    plot.set_hidden_while_comparing(False)
    plot.show_posterior(p, summarize(p), [(28, 1)])  # the uniform prior: nothing drawn
    assert not plot.prior_curve.isVisible()
    plot.show_posterior(prior, summarize(prior), [], no_answers=True, prior=prior)
    assert "model's prior alone" in plot.getPlotItem().titleLabel.text
    with pytest.raises(ValueError, match="prior"):
        plot.show_posterior(p, summarize(p), [], prior=prior[:10])
