"""Hand edits of a copy of ``examples/quickstart`` and a look at its recorded state."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

CSS = "file[public/css/site.css]"


def edit_pages(project: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in the quickstart's pages.yaml."""
    pages = project / "manifests" / "pages.yaml"
    text = pages.read_text()
    assert old in text
    pages.write_text(text.replace(old, new))


def mode_by_reference(project: Path) -> None:
    """The stylesheet takes its mode from its folder through a ``$ref``."""
    edit_pages(
        project,
        "  path: public/css/site.css\n",
        '  path: public/css/site.css\n  mode: {$ref: "directory[public/css]", field: mode}\n',
    )


def recorded_spec(project: Path, address: str) -> dict[str, object]:
    """The spec recorded for ``address`` in the project's state database."""
    with sqlite3.connect(project / ".reconcile" / "state.db") as db:
        (spec,) = db.execute("SELECT spec FROM resources WHERE address = ?", (address,)).fetchone()
    loaded: dict[str, object] = json.loads(spec)
    return loaded
