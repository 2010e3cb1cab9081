"""The application and its window frame: the QApplication, the main window that assembles the pages, the start
page, the open project, preferences and settings, menus and dialogs of the window itself (About, shortcuts,
errors), and the housekeeping that runs behind the pages (backups, the self-test's window step)."""
