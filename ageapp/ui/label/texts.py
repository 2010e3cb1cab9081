"""What the label page says: problems that stop the labelling, and notices under the pair."""

from __future__ import annotations

NO_REFERENCES = (
    "This project has no reference faces of known age to compare with. Import some first, e.g. "
    "`ageapp import PROJECT FOLDER --role reference` (FG-NET, UTKFace or a CSV of ages), then reopen the project."
)
NO_QUERIES = (
    "This project has no query faces to label yet. Import the photos to be aged with "
    "`ageapp import PROJECT FOLDER --role query`, then reopen the project."
)
ALL_FINISHED = (
    "Every query is finished under this protocol. Pick a query in the queue to add comparisons to it, "
    "or ask for more per query with Protocol…"
)
NO_ANNOTATOR = "Choose who is labelling to start: answers are kept, and weighed, per annotator."
# Notices about the previous pair go once the labeller answers the next one.
NOTICES_CLEARED_BY_ANSWERS = ("Answer undone", "Skipped", "Query #")


def beyond_notice(query_image_id: int, summary) -> str:
    side = "older" if summary.beyond > 0 else "younger"
    return (f"Query #{query_image_id} lies beyond the references ({summary.beyond_text()}): no reference it can "
            f"be shown narrows it further. Import {side} references to resolve it; meanwhile its posterior keeps "
            "the ages its answers allow.")
