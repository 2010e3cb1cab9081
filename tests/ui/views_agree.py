"""A state machine that labels a project in the real window and, after every step, checks that every view tells
what the project file says (tests/ui/test_views_agree.py runs a short profile in the suite; benchmarks/
views_agree.py the long one).

The window is the app's (the label, study and project pages, offscreen). The steps are what a labeller does:
answer ← / → / ↓, undo, skip, correct a gender (G on the pair, or in the queue), pick a query in the queue, filter
the queue, send flagged queries back, take the user study and adopt its β and undo that, change the protocol or
the prior, make another model the project's active one, reopen the project, split it for a team, let a teammate
label a part and merge it back. After each
step (once the window has settled: the plot's deferred drawing done, a β refit applied) the oracle
(ageapp.annotation.oracle.project_truth: every posterior recomputed from the comparisons, every count taken
from them) is compared with: the summary the views render, the stored posteriors, the caption under the faces,
the statistics dock (progress, answers, counts by status, the histogram of finished widths and its title), the
annotator table (answers, β) and the gold plot's title, the queue (its count, every row's answers, width and
status, the filters' membership), the posterior plot (bars and the status its title says), and the window's
minimum size (it must fit a 1280×800 screen).

Dialogs are answered as a labeller would (OK / Use β / Start labelling as the name shown); message boxes are
recorded, not shown. The machine needs a QApplication and settings kept out of the user's (tests/ui/conftest).
"""

from __future__ import annotations

import random
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from ageapp.annotation import team
from ageapp.annotation.counts import BEYOND, DONE, FINISHED, FLAGGED, IN_PROGRESS, NEW, SENT_BACK
from ageapp.annotation.labelling_settings import LabellingSettings, save_labelling_settings
from ageapp.annotation.oracle import project_truth, stored_disagreements
from ageapp.annotation.session import AnnotationSession
from ageapp.annotation.simulated_person import SimulatedPerson
from ageapp.annotation.study import new_sitting, plan_study, record_answer
from ageapp.core.selection import Protocol
from ageapp.store.db import open_project
from ageapp.store.runs import activate_model, add_model
from ageapp.ui.label.dialogs import AnnotatorDialog
from ageapp.ui.label.page import install_label_page
from ageapp.ui.project.file_actions import install_project_actions
from ageapp.ui.shell.main_window import MainWindow
from ageapp.ui.shell.settings import AppSettings
from ageapp.ui.study.adopt_dialog import AdoptBetaDialog
from ageapp.ui.study.page import install_study_page
from tests.factories import make_project

KEYS = {"left": Qt.Key.Key_Left, "right": Qt.Key.Key_Right, "unsure": Qt.Key.Key_Down}
SCREEN = (1280, 800)
PROTOCOLS = [Protocol("active"), Protocol("active", target_width=4, max_comparisons=6), Protocol("paper", comparisons=3)]
STEPS = {"count": 0}  # steps run, all machines together (the tests report it)
ACTIVATION_TIMEOUT_MS = 60_000  # a loaded machine may take seconds to activate the window (was 2 s)


class _SeededUuid:
    """uuid4 for team splits, seeded: a split shares the queries out the same way every run (the machine must
    replay a sequence exactly)."""

    def __init__(self):
        self.rng = random.Random(0)

    def uuid4(self):
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)


class Patched:
    """Dialogs answered as a labeller would, message boxes recorded, team splits seeded: undone by `restore`."""

    def __init__(self):
        self.messages: list[str] = []
        self._saved = [(AnnotatorDialog, "exec", AnnotatorDialog.exec), (AdoptBetaDialog, "exec", AdoptBetaDialog.exec),
                       (QMessageBox, "exec", QMessageBox.exec), (team, "uuid", team.uuid)]
        team.uuid = _SeededUuid()
        AnnotatorDialog.exec = lambda dialog: QDialog.DialogCode.Accepted
        AdoptBetaDialog.exec = lambda dialog: QDialog.DialogCode.Accepted

        def record(box):
            self.messages.append(f"{box.windowTitle()}: {box.text()} {box.informativeText()}")
            return int(QMessageBox.StandardButton.Ok.value)

        QMessageBox.exec = record

    def restore(self) -> None:
        for owner, name, value in self._saved:
            setattr(owner, name, value)


class ViewsAgree(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="ageapp-views-"))
        self.patched = Patched()
        self.window = None
        self.splits = 0
        self.reopens = 0
        self.other_model = False
        self.rng = np.random.default_rng(0)

    # -------------------------------------------------------------------------------------------- the project
    @initialize(protocol=st.sampled_from(PROTOCOLS), gold_rate=st.sampled_from([0.0, 0.3]),
                seed=st.integers(0, 3), queries=st.integers(4, 9))
    def open_window(self, protocol, gold_rate, seed, queries):
        self.path = self.folder / "labels.ageproj"
        # references aged 0..69 of alternating gender, ages 0..100: a query can lie beyond the references
        db = make_project(self.path, references=70, queries=queries, seed=seed, age_max=100,
                          reference_genders=True)[0]
        save_labelling_settings(db, LabellingSettings(protocol, gold_rate=gold_rate))
        db.close()
        AppSettings().set_annotator("alice")
        self.window = MainWindow()
        self.page = install_label_page(self.window)
        self.study = install_study_page(self.window)
        self.actions = install_project_actions(self.window)
        self.window.show()
        assert self.window.open_project_path(self.path)
        self._activate()
        self.page.session.rng = np.random.default_rng(seed)

    def teardown(self):
        if self.window is not None:
            self.page.refits.finish()
            self.window.close()
            self.window.deleteLater()
            QApplication.processEvents()
        self.patched.restore()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _activate(self) -> None:
        """The window has the keyboard (the pair's keys are window shortcuts), as after a labeller's click."""
        if not self.window.isActiveWindow():
            self.window.activateWindow()
            # (returns as soon as it is active: the bound only ends a wait that never would, never a slow one)
            assert QTest.qWaitForWindowActive(self.window, ACTIVATION_TIMEOUT_MS), "the window did not become active"

    def _settle(self) -> None:
        for _ in range(3):
            QApplication.processEvents()
        self.page.refits.finish()
        QApplication.processEvents()

    def _step(self) -> None:
        STEPS["count"] += 1
        self._settle()
        self._activate()

    # -------------------------------------------------------------------------------------------- the labeller
    @rule(choice=st.sampled_from(sorted(KEYS)), times=st.integers(1, 4))
    def answer(self, choice, times):
        for _ in range(times):
            if self.page.task is not None:
                before = self.page.answers_this_session
                QTest.keyClick(self.page.panel, KEYS[choice])
                assert self.page.answers_this_session == before + 1, "the key press was not taken as an answer"
        self._step()

    @rule()
    def undo(self):
        QTest.keyClick(self.page.panel, Qt.Key.Key_Backspace)
        self._step()

    @rule()
    def skip(self):
        QTest.keyClick(self.page.panel, Qt.Key.Key_Up)
        self._step()

    @rule()
    def gender_on_the_pair(self):
        QTest.keyClick(self.page.panel, Qt.Key.Key_G)
        self._step()

    @rule(row=st.integers(0, 8), gender=st.sampled_from([0, 1, None]))
    def gender_in_the_queue(self, row, gender):
        model = self.page.queue_panel.model
        if model.rowCount():
            found = model.row_at(row % model.rowCount())
            self.page.queue_panel.gender_change_requested.emit(found.query_image_id, gender)
        self._step()

    @rule(row=st.integers(0, 8))
    def pick_in_the_queue(self, row):
        model = self.page.queue_panel.model
        if model.rowCount():
            number = row % model.rowCount()
            picked = model.row_at(number).query_image_id
            self.page.queue_panel.select_row(number)
            self._step()
            if self.page.session is not None:
                task = self.page.task  # the picked query's pair (never a gold pair), or a word why not
                assert (task is not None and task.kind == "query" and task.query_image_id == picked) or \
                    f"Query #{picked} has no reference left" in self.page.notice.text(), (task, picked)
                assert self.page.shown_query == picked  # its posterior on the plot
        else:
            self._step()

    @rule(which=st.sampled_from(["flagged_only", "unfinished_only", "beyond_only"]))
    def toggle_filter(self, which):
        box = getattr(self.page.queue_panel, which)
        box.setChecked(not box.isChecked())
        self._step()

    @rule()
    def send_flagged_back(self):
        self.page.queue_panel.send_flagged_back_requested.emit()
        self._step()

    # -------------------------------------------------------------------------------------------- the study
    @rule(beta=st.sampled_from([0.15, 1.0]))
    def adopt_a_study_beta(self, beta):
        plan = plan_study(self.page.db, guesses=0, comparisons=30, seed=int(self.rng.integers(1 << 30)))
        person, sitting = SimulatedPerson(beta, seed=int(self.rng.integers(1 << 30))), new_sitting()
        with self.page.db.atomic():
            for trial in plan.trials:
                record_answer(self.page.db, "alice", sitting, trial, person.answer(trial), 700)
        self.study.show_results("alice")
        self.study.adopt_fitted_beta()
        self._step()

    @precondition(lambda self: self.window is not None and self.study.adoption is not None)
    @rule()
    def undo_the_adoption(self):
        assert self.study.undo_adoption()
        self._step()

    # -------------------------------------------------------------------------------------------- the project
    @rule(protocol=st.sampled_from(PROTOCOLS), prior=st.sampled_from(["uniform", "uniform", "model"]))
    def change_the_protocol_or_prior(self, protocol, prior):
        current = self.page.labelling
        self.page.apply_labelling_settings(LabellingSettings(protocol, current.gold_rate, prior=prior))
        self._step()

    @precondition(lambda self: self.window is not None and not self.other_model)
    @rule()
    def make_another_model_active(self):
        """What Train ▸ Runs… "Make active" does: the project's active model changes (the model prior and the paper
        protocol's rough estimate use it for the queries served from now on)."""
        self.other_model = True
        model = self.folder / "other.onnx"
        shutil.copyfile(Path(__file__).resolve().parents[2] / "resources" / "models" / "default.onnx", model)
        activate_model(self.page.db, add_model(self.page.db, "another model", str(model)))
        self._step()

    @precondition(lambda self: self.window is not None and self.reopens < 2)
    @rule()
    def reopen(self):
        self.reopens += 1
        assert self.window.open_project_path(self.path)
        self._step()

    @precondition(lambda self: self.window is not None and self.splits < 1)
    @rule(answers=st.integers(1, 6))
    def split_and_merge_a_part(self, answers):
        self.splits += 1
        out = self.folder / f"team{self.splits}"
        dialog = self.actions.split()
        dialog.out.set_path(out)
        dialog.parts.setValue(2)
        dialog.overlap.setValue(20.0)
        dialog.start_requested()
        self._wait_for(dialog)
        assert "File ▸ Merge…" in dialog.summary.toPlainText() and "ageapp merge" not in dialog.summary.toPlainText()
        dialog.close()
        part = sorted(out.glob("*.ageproj"))[0]
        db = open_project(part)  # a teammate labels their part
        bob = AnnotationSession(db, "bob", self.page.labelling.protocol, gold_rate=0.0, seed=answers)
        for _ in range(answers):
            task = bob.next_task()
            if task is None:
                break
            bob.answer(task, ["left", "right", "unsure"][int(self.rng.integers(3))])
        db.close()
        merge = self.actions.merge([part])
        self._wait_for(merge)
        merge.close()
        self._step()

    def _wait_for(self, dialog) -> None:
        while dialog.worker is not None:
            dialog.worker.wait(50)
            QApplication.processEvents()
        QApplication.processEvents()

    # -------------------------------------------------------------------------------------------- the checks
    @invariant()
    def every_view_tells_what_the_project_says(self):
        if self.window is None or self.page.db is None:
            return
        page = self.page
        truth = project_truth(page.db, page.labelling.protocol)
        assert stored_disagreements(page.db, truth) == []
        summary = page.summary.summary()
        check_summary(summary, truth)
        check_caption(page, truth)
        check_dock(page, truth)
        check_queue(page, truth)
        check_plot(page, truth)
        least = self.window.minimumSizeHint()
        assert least.width() <= SCREEN[0] and least.height() <= SCREEN[1], f"the window needs {least}"


def check_summary(summary, truth) -> None:
    assert summary.counts == truth.counts, f"summary {summary.counts} != truth {truth.counts}"
    assert summary.done_widths == truth.done_widths
    assert {lab.annotator_id: (lab.name, lab.answers, lab.gold_answers) for lab in summary.labellers} == {
        lab.annotator_id: (lab.name, lab.answers, lab.gold_answers) for lab in truth.labellers.values()}
    for lab in summary.labellers:
        assert lab.model == truth.labellers[lab.annotator_id].model


def check_caption(page, truth) -> None:
    if page.task is None or not page.panel.is_awaiting_answer():
        return
    counts = truth.counts
    found = re.search(r"(\d+) of (\d+) queries finished", page.panel.caption.text())
    assert found is not None and (int(found[1]), int(found[2])) == (counts.done, counts.total), page.panel.caption.text()


def check_dock(page, truth) -> None:
    dock, counts = page.statistics_panel, truth.counts
    assert (dock.progress.value(), dock.progress.maximum()) == (counts.done, max(counts.total, 1))
    gold = f" ({counts.gold_answers:,} gold)" if counts.gold_answers else ""
    assert dock.comparisons_label.text() == f"Answers: <b>{counts.answers:,}</b>{gold}"
    by = counts.by_status
    assert dock.flagged_label.text() == (
        f"New <b>{by[NEW]:,}</b> · in progress <b>{by[IN_PROGRESS]:,}</b> · finished <b>{by[FINISHED]:,}</b> · "
        f"flagged <b>{by[FLAGGED]:,}</b> · beyond the references <b>{by[BEYOND]:,}</b> · "
        f"sent back <b>{by[SENT_BACK]:,}</b>")
    bars = dock.width_bars.opts
    shown = {int(x): int(h) for x, h in zip(bars["x"], bars["height"])}
    assert shown == truth.done_widths
    done = sum(truth.done_widths.values())
    assert dock.width_plot.getPlotItem().titleLabel.text == f"{done:,} finished {'query' if done == 1 else 'queries'}"
    table = dock.annotators
    rows = {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 3).text()) for r in range(table.rowCount())}
    for lab in truth.labellers.values():
        model = lab.model
        span = f" ({model.interval[0]:.2f}–{model.interval[1]:.2f})" if model.interval else ""
        assert rows[lab.name] == (f"{model.beta:.2f}{span}", f"{lab.answers:,}"), (lab, rows)
    if page.session is not None:
        mine = truth.labellers[page.session.annotator_id]
        title = dock.gold_plot.getPlotItem().titleLabel.text
        assert f"β = {mine.model.beta:.2f}" in title
        assert ("no gold answers yet" in title) == (mine.gold_answers == 0 and mine.model.source == "default"), title


def check_queue(page, truth) -> None:
    queue = page.queue_panel
    model = queue.model
    wanted = set(truth.queries)
    if queue.flagged_only.isChecked():
        wanted &= truth.ids_with(FLAGGED)
    if queue.beyond_only.isChecked():
        wanted &= truth.ids_with(BEYOND)
    if queue.unfinished_only.isChecked():
        wanted -= truth.ids_with(*DONE)
    rows = [model.row_at(i) for i in range(model.rowCount())]
    assert {row.query_image_id for row in rows} == wanted, (
        [(row.query_image_id, row.status) for row in rows], {q: t.status for q, t in truth.queries.items()},
        queue.flagged_only.isChecked(), queue.beyond_only.isChecked(), queue.unfinished_only.isChecked())
    assert queue.count_label.text() == f"{len(wanted):,} {'query' if len(wanted) == 1 else 'queries'}"
    for row in rows:
        expected = truth.queries[row.query_image_id]
        assert (row.n_comparisons, row.status) == (expected.comparisons, expected.status), (row, expected.status)
        if expected.comparisons:
            assert row.ci_width == expected.summary.ci_width
        if expected.status != SENT_BACK:  # (one sent back keeps its flag while it is served again)
            assert row.flagged == (expected.status == FLAGGED), (row, expected.status)


def check_plot(page, truth) -> None:
    drawn = page.shown.drawn
    if drawn is None or page.plot.is_hidden_while_comparing():
        return
    expected = truth.queries[drawn.query_image_id]
    np.testing.assert_allclose(page.plot.bars.opts["height"], expected.posterior, atol=1e-4)
    title = page.plot.getPlotItem().titleLabel.text
    caption = page.plot_caption.text()
    if expected.comparisons:
        assert ("beyond the references" in title) == (expected.status == BEYOND), (title, expected.status)
        assert ("flagged" in title) == (expected.status == FLAGGED), (title, expected.status)
        assert f" · {expected.status} · " in caption, (caption, expected.status)
    assert caption.startswith(f"Posterior of query #{drawn.query_image_id} ")
    assert caption.endswith(f"{expected.comparisons} answer{'' if expected.comparisons == 1 else 's'}")
