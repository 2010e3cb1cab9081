"""Helpers shared by the experiment scripts (ablation, photo domain): run the project's own command lines,
read their JSON line, write commands without this machine's paths, and replace one marked section of
docs/results.md (each script owns its section; the rest of the page is kept)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def last_json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("the command printed no JSON line")


def run(command: list[str], log: Path | None = None) -> dict:
    """Run from the repository root; the JSON line it printed last. stderr goes to `log` when given."""
    print("$ " + shown(command), file=sys.stderr, flush=True)
    with open(log, "a") if log else open(os.devnull, "w") as errors:
        done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=errors, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{shown(command)} failed (exit {done.returncode}); see {log}")
    return last_json_line(done.stdout)


def shown(command: list[str]) -> str:
    """The command as a reader types it from the repository root: python, relative paths."""
    parts = []
    for part in command:
        text = str(part)
        if text == sys.executable:
            text = "python"
        elif text.startswith(str(REPO.parent)):
            text = os.path.relpath(text, REPO)
        parts.append(text)
    return " ".join(parts)


def mean_sd(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def replace_section(path: Path, name: str, text: str) -> None:
    """Put `text` between `<!-- name:start -->` and `<!-- name:end -->` in the page (appended when absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    page = path.read_text() if path.is_file() else "# Results\n"
    block = f"{start}\n{text.strip()}\n{end}"
    if start in page and end in page:
        page = page[:page.index(start)] + block + page[page.index(end) + len(end):]
    else:
        page = page.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page)
    tmp.replace(path)
