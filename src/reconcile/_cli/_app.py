"""The ``reconcile`` command: plan, apply, status, history, show, providers, unlock.

A thin layer over the library: each command opens a ``Session``, calls the
reconciler, and turns the result into output and an exit code (0 fine, 1 error
or failed step, 2 changes with ``--exit-code``, 130 interrupted).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from reconcile._apply.outcomes import Interrupted
from reconcile._gitops.guard import PrunePolicy
from reconcile._plan.plan import Plan
from reconcile._util.errors import InvalidStateError, ReconcileError, StalePlanError
from reconcile.sources import parse_git_spec

from ._config import load_config
from ._options import (
    EXIT_CHANGES,
    EXIT_INTERRUPTED,
    Common,
    common_options,
    fail,
    git_option,
    targeting_options,
)
from ._output import Output
from ._prune import prune_options
from ._registry import available, installed
from ._session import Session

__all__ = ["cli", "main"]


def _step_failure(record: logging.LogRecord) -> bool:
    """False for a step's failure record: the apply summary lists each failure once."""
    return not getattr(record, "step_failed", False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reconcile")
def cli() -> None:
    """Make live state match the desired state declared in manifests."""
    steps = logging.getLogger("reconcile.apply")
    if _step_failure not in steps.filters:
        steps.addFilter(_step_failure)
    installed()  # provider packages' kinds are known before any command reads a manifest


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="print the JSON plan")
@click.option("--out", type=click.Path(dir_okay=False), help="save the JSON plan here")
@click.option("--exit-code", is_flag=True, help="exit 2 when there are changes, 0 when none")
@targeting_options
@git_option
@prune_options
@common_options
def plan(
    paths: Sequence[str],
    as_json: bool,
    out: str | None,
    exit_code: bool,
    include: Sequence[str],
    exclude: Sequence[str],
    git: str | None,
    prune: PrunePolicy | None,
    common: Common,
) -> None:
    """Show what apply would change; changes nothing."""
    output = common.output
    try:
        session = common.session(paths, git)
        made, _, _ = session.plan(include or None, exclude or None, prune=prune)
    except ReconcileError as err:
        fail(output, str(err))
    if out:
        Path(out).write_text(made.to_json(indent=2) + "\n")
    if as_json:
        output.plain(made.to_json(indent=2) + "\n")
    else:
        output.plan(made)
        _targeting_note(output, made)
        if out:
            output.line(f"\nSaved the plan to {out}; apply it with: reconcile apply {out}")
    sys.exit(EXIT_CHANGES if exit_code and not made.is_empty else 0)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--yes", "-y", is_flag=True, help="apply without asking")
@targeting_options
@git_option
@prune_options
@common_options
def apply(
    paths: Sequence[str],
    yes: bool,
    include: Sequence[str],
    exclude: Sequence[str],
    git: str | None,
    prune: PrunePolicy | None,
    common: Common,
) -> None:
    """Apply the manifests in PATHS (or --git), or a plan saved with ``plan --out``."""
    output = common.output
    try:
        session, made, desired, revision = _prepare(paths, common, include, exclude, git, prune)
    except ReconcileError as err:
        fail(output, str(err))
    output.plan(made)
    _targeting_note(output, made)
    if made.is_empty and not made.stale_records:
        sys.exit(0)
    if not yes and not made.is_empty and not made.saved:  # a saved plan was approved already
        _confirm(output)
    _run_apply(output, session, made, desired, revision)


def _targeting_note(output: Output, made: Plan) -> None:
    """Terraform's targeting warning: what --include/--exclude left out was not checked."""
    targeting = made.meta.get("targeting")
    if not targeting:
        return
    flags = " and ".join(targeting.get("flags") or ["targeting"])
    count = targeting.get("left_out", 0)
    things = "address was" if count == 1 else "addresses were"
    output.line(
        f"\nWarning: {count} {things} left out by targeting ({flags}) and not checked; "
        f"this plan may not show everything the desired state needs. Plan without {flags} "
        "to see it all."
    )


def _run_apply(
    output: Output, session: Session, made: Plan, desired: list[Any] | None, revision: str | None
) -> NoReturn:
    """Apply with a progress bar; print the summary; exit 0, 1 (a step failed) or 130."""
    with output.progress(made) as on_event:
        session.on_event = on_event
        try:
            reconciler = session.reconciler  # opens the state, which loads its key
            meta = session.journal_meta(revision, desired, made.salt) if revision else None
            result = reconciler.apply(made, desired=desired, revision=revision, meta=meta)
        except Interrupted as stop:
            output.line()
            output.summary(stop.result)
            fail(output, "interrupted; finished steps were recorded", EXIT_INTERRUPTED)
        except ReconcileError as err:
            fail(output, str(err))
    output.line()
    output.summary(result)
    sys.exit(0 if result.ok else 1)


def _prepare(
    paths: Sequence[str],
    common: Common,
    include: Sequence[str],
    exclude: Sequence[str],
    git: str | None,
    prune: PrunePolicy | None = None,
) -> tuple[Session, Plan, list[Any] | None, str | None]:
    saved = _saved_plan(paths)
    if saved is None:
        session = common.session(paths, git)
        made, desired, revision = session.plan(include or None, exclude or None, prune=prune)
        return session, made, desired, revision
    session = Session.for_saved(saved, common.parallelism)
    desired, revision = session.desired()
    source = saved.meta.get("source") or {}
    if source.get("revision") != revision:
        raise StalePlanError(_source_moved(source.get("git"), source.get("revision"), revision))
    return session, saved, desired, revision


def _source_moved(git: str | None, recorded: str | None, now: str) -> str:
    """Why a saved plan's source is stale: a Git ref that moved, or manifests that changed."""
    if not git:
        return "the manifests changed since the plan was saved; plan again"
    repo, ref, _ = parse_git_spec(git)
    was = (recorded or "?")[:7]
    moved = f"{repo}@{ref} moved from {was} to {now[:7]}"
    return f"the plan is stale: {moved} since it was saved; plan again"


def _saved_plan(paths: Sequence[str]) -> Plan | None:
    if len(paths) != 1 or not paths[0].endswith(".json") or not Path(paths[0]).is_file():
        return None
    data = Path(paths[0]).read_bytes()
    if b'"format_version"' not in data or b'"resource_changes"' not in data:
        return None  # a JSON manifest: the loader reads it and says what is wrong with it
    try:
        return Plan.from_json(data)
    except InvalidStateError as err:
        raise InvalidStateError(f"{paths[0]}: {err}") from None


def _confirm(output: Output) -> None:
    if not sys.stdin.isatty():
        fail(output, "refusing to apply without confirmation: stdin is not a terminal; use --yes")
    if not click.confirm("\nApply these changes?", default=False):
        fail(output, "apply cancelled; nothing changed")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--exit-code", is_flag=True, help="exit 2 when live state drifted")
@git_option
@common_options
def status(
    paths: Sequence[str],
    exit_code: bool,
    git: str | None,
    common: Common,
) -> None:
    """Say whether live state matches the desired state, what drifted where, and health."""
    output = common.output
    try:
        session = common.session(paths, git)
        found = session.observer.status(session.source)
    except ReconcileError as err:
        fail(output, str(err))
    revisions = f"revision {found.revision_wanted[:19]}, last applied "
    revisions += (found.revision_applied or "never")[:19]
    total = len(found.resources)
    if not found.out_of_sync:
        output.line(
            f"In sync ({found.sync}, {found.health}): {total} resources match; {revisions}."
        )
        sys.exit(0)
    output.line(
        f"Out of sync ({found.sync}, {found.health}): {len(found.out_of_sync)} of {total} "
        f"resources differ; {revisions}."
    )
    for step in found.plan.changes:
        fields = ", ".join(
            ".".join(map(str, c.path)) + (f" ({c.cause})" if c.cause else "") for c in step.diff
        )
        output.line(f"  {step.action:<8} {step.address}" + (f": {fields}" if fields else ""))
    sys.exit(EXIT_CHANGES if exit_code else 0)


@cli.command()
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@common_options
def history(limit: int, common: Common) -> None:
    """List the journal of applies, newest first."""
    output = common.output
    try:
        session = common.session()
        if not session.state_file.exists():
            output.line(f"No applies recorded yet. No state at {session.state_file}.")
            sys.exit(0)
        entries = session.journal.history(limit)
    except ReconcileError as err:
        fail(output, str(err))
    if not entries:
        output.line("No applies recorded yet.")
    for e in entries:
        who = f"{e.user or '?'}@{e.host or '?'}"
        rev = (e.revision or "-")[:19]
        commit = f"  {e.meta['author']}: {e.meta.get('subject', '')}" if "author" in e.meta else ""
        digests = f"  desired {str(e.meta.get('desired_digest', '-'))[:19]}"
        digests += f" plan {str(e.meta.get('plan_digest', '-'))[:19]}"
        output.line(f"{e.id:>5}  {e.started_at}  {e.status:<11} {who:<20} {rev}{commit}{digests}")


@cli.command()
@click.argument("apply_id", type=int)
@common_options
def show(apply_id: int, common: Common) -> None:
    """Show one journaled apply: who, when, its plan, and each step's outcome."""
    output = common.output
    try:
        session = common.session()
        entry = session.journal.history_entry(apply_id)
    except KeyError:
        fail(output, f"no apply with id {apply_id} in the journal{_newest(common)}")
    except ReconcileError as err:
        fail(output, str(err))
    try:  # read before any line is shown: a plan that cannot be read names where it is
        plan = Plan.from_json(entry.plan) if entry.plan else None
    except InvalidStateError as err:
        fail(output, f"{session.state_file}: the plan of apply {apply_id}: {err}")
    output.line(f"Apply {entry.id}: {entry.status}, {entry.started_at} .. {entry.ended_at or '-'}")
    output.line(f"By {entry.user or '?'}@{entry.host or '?'}, revision {entry.revision or '-'}\n")
    if plan is not None:
        output.plan(plan)
    output.line("\nSteps:")
    for s in entry.steps:
        output.line(
            f"  {s.status:<9} {s.action:<8} {s.address}" + (f"  {s.error}" if s.error else "")
        )


def _newest(common: Common) -> str:
    """Where the journal's ids end, for a ``show`` of an id that is not there."""
    newest = common.session().journal.history(1)
    return f" (the newest is {newest[0].id}; see reconcile history)" if newest else " (it is empty)"


@cli.command()
@common_options
def providers(common: Common) -> None:
    """List the resource kinds available: built-in and from installed packages."""
    output = common.output
    try:
        found = available(load_config([], common.config))
    except ReconcileError as err:
        fail(output, str(err))
    for item in found:
        output.line(f"{item.name:<12} {item.origin:<20} {', '.join(item.kinds)}")


@cli.command()
@common_options
def unlock(common: Common) -> None:
    """Remove a lock no running process holds: an older version's, or where files cannot
    be locked (a crashed apply's lock needs none: it died with its process)."""
    output = common.output
    try:
        session = common.session()
        if not session.state_file.exists():
            output.line(f"No state at {session.state_file}: nothing is locked.")
            return
        holder = session.journal.force_unlock()  # no manifests read, no provider built
    except ReconcileError as err:
        fail(output, str(err))
    output.line(
        f"Lock broken (was held by {holder.describe()})." if holder else "State was not locked."
    )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="reconcile")
