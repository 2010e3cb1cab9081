"""The main window: assembles pages and docks and routes menu commands; owns no domain logic.

Other panels join through `add_page(name, widget)` and `add_dock(name, title, widget)`. A page that
defines `set_project(db_or_None)` is told when a project opens or closes; one that defines `can_close()` is
asked before the window closes (False keeps it open: the page asks the user, or closes it later itself);
the "estimate" page may define
`estimate_from_image()` and `estimate_from_camera()` for the start page's buttons.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMenu, QStackedWidget, QWidget

from ageapp.ui.shell.about import AboutDialog
from ageapp.ui.shell.errors import LOG_FILE_NAME, log_directory
from ageapp.ui.shell.messages import show_information, show_warning
from ageapp.ui.shell.preferences import PreferencesDialog
from ageapp.ui.shell.project_session import PROJECT_SUFFIX, ProjectOpenError, ProjectSession
from ageapp.ui.shell.settings import AppSettings
from ageapp.ui.common.keys import key_rows
from ageapp.ui.shell.shortcuts import ShortcutsDialog, menu_shortcut_rows
from ageapp.ui.shell.start_page import StartPage

START, LABEL, ESTIMATE, TRAIN = "start", "label", "estimate", "train"
# The Mode menu lists these in this order from the start, disabled until their page is added.
KNOWN_PAGES = {START: "&Start page", LABEL: "&Label", ESTIMATE: "&Estimate", TRAIN: "&Train"}
PROJECT_FILTER = f"ageapp projects (*{PROJECT_SUFFIX});;All files (*)"


class MainWindow(QMainWindow):
    page_changed = Signal(str)
    preferences_saved = Signal(object)  # ageapp.preferences.Preferences, after File ▸ Preferences… saved

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.settings = settings or AppSettings()
        self.session = ProjectSession(self.settings, self)
        self.pages = QStackedWidget()
        self.setCentralWidget(self.pages)
        self._page_names: dict[QWidget, str] = {}
        self._mode_actions: dict[str, QAction] = {}
        self._shortcuts_dialog: ShortcutsDialog | None = None
        self.log_path: Path | None = None  # run_app sets the file it logs to

        self._build_menus()
        self.start_page = StartPage()
        self.add_page(START, self.start_page)
        self.show_page(START)
        self._connect_start_page()
        self.session.project_opened.connect(self._on_project_opened)
        self.session.project_closed.connect(self._on_project_closed)
        self.session.recent_projects_changed.connect(self.start_page.set_recent_projects)
        self.start_page.set_recent_projects(self.session.recent_projects())
        self._update_title()
        self.statusBar().showMessage("Ready")
        self._restore_layout()

    # Pages and docks --------------------------------------------------------------------------------

    def add_page(self, name: str, widget: QWidget, title: str | None = None) -> QAction:
        """Add a page to the stack and enable (or create) its Mode menu item; returns that action."""
        if name in {n for n in self._page_names.values()}:
            raise ValueError(f"a page named {name!r} already exists")
        self.pages.addWidget(widget)
        self._page_names[widget] = name
        action = self._mode_actions.get(name) or self._add_mode_action(name, title or name.title())
        action.setEnabled(True)
        if self.session.is_open() and hasattr(widget, "set_project"):
            widget.set_project(self.session.db)
        return action

    def page(self, name: str) -> QWidget | None:
        return next((widget for widget, n in self._page_names.items() if n == name), None)

    def show_page(self, name: str) -> None:
        widget = self.page(name)
        if widget is None:
            raise KeyError(f"no page named {name!r}; pages: {', '.join(self._page_names.values())}")
        self.pages.setCurrentWidget(widget)
        self._mode_actions[name].setChecked(True)
        self.page_changed.emit(name)

    def current_page_name(self) -> str:
        return self._page_names[self.pages.currentWidget()]

    def add_dock(
        self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea
    ) -> QDockWidget:
        """A dock whose place and size are saved with the window (its objectName is `name`); its "restored"
        property says whether it came back where the user left it (else it was put in `area`)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        restored = self.restoreDockWidget(dock)
        dock.setProperty("restored", restored)
        if not restored:
            self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        self.view_menu.menuAction().setVisible(True)
        self.fit_screen()  # its restored width may have grown the window past the screen
        return dock

    # Projects --------------------------------------------------------------------------------------------

    def open_project_path(self, path: str | Path) -> bool:
        return self._run_project_command(lambda: self.session.open(path), "Could not open the project")

    def create_project_path(self, path: str | Path) -> bool:
        return self._run_project_command(lambda: self.session.create(path), "Could not create the project")

    def new_project(self):
        """File ▸ New project…: the wizard (file, range, folders, detector, import); it opens what it made."""
        from ageapp.ui.project.wizard import NewProjectWizard

        wizard = NewProjectWizard(self.session, self.settings, parent=self)
        wizard.project_ready.connect(self.open_project_path)
        wizard.open()
        return wizard

    def open_project(self, path: str = "") -> None:
        if not path:
            from ageapp.ui.project.fields import start_folder

            path, _ = QFileDialog.getOpenFileName(self, "Open project", start_folder(self.settings, "projects",
                                                                                     self.session.path), PROJECT_FILTER)
            if path:
                self.settings.set_last_folder("projects", path)
        if path:
            self.open_project_path(path)

    def close_project(self) -> None:
        self.session.close()

    def restore_backup(self) -> None:
        """File ▸ Restore from backup…: pick one of the open project's backups and put it back."""
        from ageapp.store.backup import backups_folder

        if self.session.path is None:
            return
        folder = backups_folder(self.session.path)
        path, _ = QFileDialog.getOpenFileName(self, "Restore from backup", str(folder if folder.is_dir() else
                                                                                 self.session.path.parent),
                                              PROJECT_FILTER)
        if path:
            self.restore_backup_path(path)

    def restore_backup_path(self, backup: str | Path) -> bool:
        def restore() -> None:
            report = self.session.restore(backup)
            aside = f"\n\nThe project as it was, with its journal, is in {report.set_aside}." if report.set_aside else ""
            show_information(self, "Backup restored", f"{Path(backup).name} was put back as {report.project.name}."
                                                      f"{aside}")
        return self._run_project_command(restore, "Could not restore the backup")

    def _run_project_command(self, command, title: str) -> bool:
        try:
            command()
        except ProjectOpenError as error:
            show_warning(self, title, str(error))
            return False
        return True

    def _on_project_opened(self, db) -> None:
        self._tell_pages(db)
        self.close_project_action.setEnabled(True)
        self.restore_action.setEnabled(True)
        self._update_title()
        self.statusBar().showMessage(f"Opened {self.session.path}", 5000)
        if self.page(LABEL) is not None:
            self.show_page(LABEL)
        if self.session.read_only_reason:
            show_information(self, "Opened read-only", self.session.read_only_reason)
        if self.session.recovered:
            show_information(self, "Answers recovered", self.session.recovered)
        if self.session.open_notice:
            show_information(self, "About this project", self.session.open_notice)

    def _on_project_closed(self) -> None:
        self._tell_pages(None)
        self.close_project_action.setEnabled(False)
        self.restore_action.setEnabled(False)
        self._update_title()
        self.statusBar().showMessage("Project closed", 5000)
        self.show_page(START)

    def _tell_pages(self, db) -> None:
        for widget in self._page_names:
            if hasattr(widget, "set_project"):
                widget.set_project(db)

    def _update_title(self) -> None:
        path = self.session.path
        self.setWindowTitle(f"{path.name} — ageapp" if path else "ageapp")
        self.setWindowFilePath(str(path) if path else "")

    # Estimation from the start page ---------------------------------------------------------------------------

    def request_estimate(self, source: str) -> None:
        """source 'image' or 'camera': hand over to the Estimate page, or say that there is none."""
        page = self.page(ESTIMATE)
        if page is None:
            show_information(
                self, "Estimate", "Age estimation is not available in this build.",
                "Install the full ageapp, or use `ageapp estimate IMAGE` on the command line.",
            )
            return
        self.show_page(ESTIMATE)
        handler = getattr(page, f"estimate_from_{source}", None)
        if handler is not None:
            handler()

    def _connect_start_page(self) -> None:
        self.start_page.new_project_requested.connect(self.new_project)
        self.start_page.open_project_requested.connect(self.open_project)
        self.start_page.estimate_image_requested.connect(lambda: self.request_estimate("image"))
        self.start_page.estimate_camera_requested.connect(lambda: self.request_estimate("camera"))

    # Menus ------------------------------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&New project…", self.new_project, QKeySequence.StandardKey.New)
        self._action(file_menu, "&Open project…", lambda: self.open_project(), QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.close_project_action = self._action(file_menu, "&Close project", self.close_project, "Ctrl+W")
        self.close_project_action.setEnabled(False)
        self.restore_action = self._action(file_menu, "Restore from &backup…", self.restore_backup)
        self.restore_action.setEnabled(False)
        file_menu.addSeparator()
        preferences = self._action(file_menu, "&Preferences…", self.show_preferences,
                                   QKeySequence.StandardKey.Preferences)
        preferences.setMenuRole(QAction.MenuRole.PreferencesRole)  # macOS: in the application menu
        self._action(file_menu, "&Quit", self.close, "Ctrl+Q")

        self.mode_menu = bar.addMenu("&Mode")
        self._mode_group = QActionGroup(self)
        self._mode_group.setExclusive(True)
        for name, text in KNOWN_PAGES.items():
            self._add_mode_action(name, text).setEnabled(False)

        self.view_menu = bar.addMenu("&View")  # filled by add_dock; hidden while empty
        self.view_menu.menuAction().setVisible(False)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self.show_shortcuts, "F1")
        help_menu.addSeparator()
        self._action(help_menu, "Open &log folder", self.open_log_folder)
        self._action(help_menu, "Show log file &path", self.show_log_path)
        help_menu.addSeparator()
        self._action(help_menu, "&About ageapp", self.show_about)

    def _action(self, menu: QMenu, text: str, slot, shortcut=None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda _checked=False: slot())
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _add_mode_action(self, name: str, text: str) -> QAction:
        action = self.mode_menu.addAction(text)
        action.setCheckable(True)
        action.setActionGroup(self._mode_group)
        number = len(self._mode_actions) + 1
        if number <= 9:
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
        action.triggered.connect(lambda _checked=False, n=name: self.show_page(n))
        self._mode_actions[name] = action
        return action

    def mode_action(self, name: str) -> QAction:
        return self._mode_actions[name]

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.session.recent_projects()
        for path in recent:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _checked=False, p=str(path): self.open_project_path(p))
        if not recent:
            self.recent_menu.addAction("No recent projects").setEnabled(False)
            return
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear this list").triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.clear_recent_projects()
        self.start_page.set_recent_projects([])

    # Help -----------------------------------------------------------------------------------------------------

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """The menus' shortcuts, then every page's and dock's keys (ageapp.ui.common.keys)."""
        return menu_shortcut_rows(self.menuBar()) + key_rows(self)

    def show_shortcuts(self) -> ShortcutsDialog:
        """Non-modal, so the sheet can stay open beside the work."""
        if self._shortcuts_dialog is None:
            self._shortcuts_dialog = ShortcutsDialog(self.shortcut_rows(), self)
        else:
            self._shortcuts_dialog.set_rows(self.shortcut_rows())  # pages added since show too
        self._shortcuts_dialog.show()
        self._shortcuts_dialog.raise_()
        return self._shortcuts_dialog

    def show_about(self) -> None:
        AboutDialog(self).exec()

    def log_file(self) -> Path:
        """The file run_app logs to (set there), else where it would be."""
        return self.log_path or log_directory() / LOG_FILE_NAME

    def open_log_folder(self) -> bool:
        folder = self.log_file().parent
        folder.mkdir(parents=True, exist_ok=True)
        opened = QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        if not opened:
            self.show_log_path("No file manager could be opened for the log folder.")
        return opened

    def show_log_path(self, problem: str = "") -> None:
        path = str(self.log_file())
        QGuiApplication.clipboard().setText(path)
        show_information(self, "Log file", f"{problem}\n\nThe log file is:\n{path}".strip(),
                         "The path is on the clipboard. Attach this file when you report a problem.")

    # Preferences ----------------------------------------------------------------------------------------------

    def show_preferences(self) -> PreferencesDialog:
        dialog = PreferencesDialog(self.settings.store, self)
        dialog.saved.connect(self.apply_preferences)
        dialog.open()  # window-modal, returns at once (tests drive it)
        return dialog

    def apply_preferences(self, preferences) -> None:
        """What takes effect at once: the log level, the recent list's length; then pages that listen."""
        logging.getLogger("ageapp").setLevel(preferences.log_level_number())
        self.start_page.set_recent_projects(self.session.recent_projects())
        self.preferences_saved.emit(preferences)

    # Layout persistence ---------------------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = self.settings.window_geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1100, 760)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
        self.fit_screen()

    def fit_screen(self) -> None:
        """A layout saved on a larger screen (or grown by its docks or a page) fits this one, where it can."""
        room, least = self.screen().availableGeometry(), self.minimumSizeHint()
        if least.width() > room.width() or least.height() > room.height():
            return  # it cannot: leave it as Qt placed it
        if self.width() > room.width() or self.height() > room.height():
            self.resize(min(self.width(), room.width()), min(self.height(), room.height()))
            self.move(room.topLeft())

    def closeEvent(self, event: QCloseEvent) -> None:
        # A page with work in progress (a training run) may ask first, or close the window itself later.
        if not all(page.can_close() for page in self._page_names if hasattr(page, "can_close")):
            event.ignore()
            return
        self.settings.save_window_layout(self.saveGeometry(), self.saveState())
        self.session.close()
        super().closeEvent(event)
