"""The protocol a project remembers: defaults, a round trip through the settings table, bad values."""

from __future__ import annotations

import pytest

from ageapp.annotation.labelling_settings import LabellingSettings, load_labelling_settings, save_labelling_settings
from ageapp.core.selection import Protocol
from ageapp.store.settings import set_setting
from tests.factories import make_project


@pytest.fixture
def db(tmp_path):
    return make_project(tmp_path / "s.ageproj", references=2, queries=1)[0]


def test_defaults_are_the_issues(db):
    settings = load_labelling_settings(db)
    assert settings.protocol == Protocol("active", comparisons=6, target_width=8, max_comparisons=12)
    assert settings.gold_rate == pytest.approx(0.1) and settings.hide_posterior is False
    assert settings.describe() == ("Active protocol: until the 90% interval is ≤ 8 years or 12 references · "
                                   "gold check 1 in 10")


def test_saved_settings_come_back_per_project(db, tmp_path):
    chosen = LabellingSettings(Protocol("paper", comparisons=8), gold_rate=0.2, hide_posterior=True)
    save_labelling_settings(db, chosen)
    assert load_labelling_settings(db) == chosen
    assert chosen.describe() == "Paper protocol: 8 references per query · gold check 1 in 5"
    other = make_project(tmp_path / "other.ageproj", references=2, queries=1)[0]
    assert load_labelling_settings(other) == LabellingSettings()


def test_a_nonsensical_stored_value_falls_back_to_the_defaults(db):
    set_setting(db, "max_comparisons", 0)
    assert load_labelling_settings(db) == LabellingSettings()
    set_setting(db, "max_comparisons", 12)
    set_setting(db, "protocol", "psychic")
    assert load_labelling_settings(db).protocol.policy == "active"


def test_a_gold_rate_out_of_range_is_refused():
    with pytest.raises(ValueError, match="gold rate must lie between 0 and 0.5"):
        LabellingSettings(gold_rate=0.9)
    assert LabellingSettings(gold_rate=0.0).describe().endswith("no gold checks")
