"""The Train page: the form, the run in its worker thread with its progress and curves, the runs dialog, the
model export, and the Train menu."""
