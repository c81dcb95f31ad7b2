"""What the command line shows: coloured plans, progress, summaries, errors.

The only module that imports rich. On a terminal plans are coloured and long
applies get a progress bar; otherwise output is plain text, stable for logs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from reconcile._apply.outcomes import ApplyResult, Status
from reconcile._plan.plan import Plan
from reconcile._plan.steps import Action
from reconcile._provider.events import Event, EventKind

__all__ = ["Output"]

_STYLES = (("-/+", "magenta"), ("+/-", "magenta"), ("+", "green"), ("~", "yellow"), ("-", "red"))
_PROGRESS_FROM = 20  # steps; shorter applies finish before a bar helps


class Output:
    """Writes to stdout (results) and stderr (progress, errors)."""

    def __init__(self, *, color: bool | None = None) -> None:
        plain = {"color_system": None} if color is False else {}  # no colour, no bold either
        self.out = Console(highlight=False, soft_wrap=True, force_terminal=color, **plain)  # type: ignore[arg-type]
        self.err = Console(
            stderr=True,
            highlight=False,
            soft_wrap=True,
            force_terminal=color,
            **plain,  # type: ignore[arg-type]
        )

    def plain(self, text: str) -> None:
        self.out.print(text, markup=False, end="")

    def line(self, text: str = "") -> None:
        self.out.print(text, markup=False)

    def error(self, text: str) -> None:
        self.err.print(Text(f"Error: {text}", style="bold red"))

    def plan(self, plan: Plan) -> None:
        """The plan as ``Plan.render()`` gives it, coloured by action on a terminal."""
        for line in plan.render().splitlines():
            self.out.print(Text(line, style=_style(line)))

    @contextlib.contextmanager
    def progress(self, plan: Plan) -> Iterator[Any]:
        """A callback for apply events; draws a bar with the current step on a terminal."""
        total = len(plan.changes)
        if not self.err.is_terminal or total < _PROGRESS_FROM:
            yield None
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeElapsedColumn(), console=self.err, transient=True) as bar:
            task = bar.add_task("applying", total=total)

            def on_event(event: Event) -> None:
                if event.kind is EventKind.STARTED:
                    bar.update(task, description=f"{event.action} {event.address}")
                elif event.kind is not EventKind.RETRIED:
                    bar.advance(task)

            yield on_event

    def summary(self, result: ApplyResult) -> None:
        """What was created, updated, replaced, deleted, and what failed or did not run."""
        counts: dict[Action, int] = {a: 0 for a in Action if a is not Action.NOOP}
        for o in result.applied:
            counts[o.action] += 1
        done = ", ".join(f"{n} {_PAST[a]}" for a, n in counts.items())
        if result.failed:
            self.line(f"Apply failed: {len(result.failed)} failed; {done}.")
        else:
            self.line(f"Apply complete: {done}.")
        for o in result.failed:
            self.err.print(Text(f"  failed  {o.address} ({o.action}): {o.message}", style="red"))
        for o in result.outcomes:
            if o.status in (Status.SKIPPED, Status.CANCELLED):
                why = f"{o.blocked_by} did not succeed" if o.blocked_by else str(o.status)
                self.err.print(Text(f"  not run {o.address}: {why}", style="yellow"))


_PAST = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.REPLACE: "replaced",
    Action.DELETE: "deleted",
    Action.FORGET: "forgotten",
}


def _style(line: str) -> str:
    stripped = line.lstrip()
    if line.startswith(("Plan:", "  #")):
        return "bold" if line.startswith("Plan:") else "dim"
    for prefix, style in _STYLES:
        if stripped.startswith(prefix + " "):
            return style
    return ""
