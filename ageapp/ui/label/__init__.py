"""The Label page: the pair of faces and the live posterior, its queue and statistics docks, its dialogs
(annotator, protocol), gender corrections, flagged queries sent back, and Tools ▸ Predict genders…."""
