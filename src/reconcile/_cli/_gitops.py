"""The GitOps commands: ``watch``, ``diff`` (pull-request previews) and ``rollback``.

Registered on the ``cli`` group of ``_app`` when the package is imported; the
same thin layer: a ``Session``, one reconciler call, output and an exit code.
"""

from __future__ import annotations

import signal
import sys
import threading
from signal import SIGINT, SIGTERM

import click

from reconcile._gitops.guard import PrunePolicy
from reconcile._gitops.preview import compare
from reconcile._gitops.watch import WatchOptions
from reconcile._plan.plan import Plan
from reconcile._plan.render import summary_line
from reconcile._util.errors import ReconcileError
from reconcile.sources import GitSource

from ._app import _confirm, _run_apply, cli
from ._config import load_config
from ._kube import git_source
from ._options import Common, common_options, fail
from ._prune import prune_options

__all__ = ["diff", "rollback", "watch"]


@cli.command()
@click.option("--git", "git", required=True, metavar="REPO[@REF][:PATH]", help="the source")
@click.option("--interval", type=click.FloatRange(0.1), default=30.0, show_default=True)
@click.option("--self-heal", is_flag=True, help="revert drift (default: only report it)")
@prune_options
@click.option("--max-cycles", type=click.IntRange(1), help="stop after this many cycles")
@common_options
def watch(
    git: str,
    interval: float,
    self_heal: bool,
    prune: PrunePolicy | None,
    max_cycles: int | None,
    common: Common,
) -> None:
    """Follow a Git ref: sync new commits, report or heal drift; stop with Ctrl-C or SIGTERM."""
    output = common.output
    options = WatchOptions(interval, self_heal, prune or False, max_cycles=max_cycles)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (SIGINT, SIGTERM)}
    try:
        session = common.session((), git)
        session.source.revision()  # the repository and the ref exist, or nothing is printed
        output.line(f"watching {git} every {interval:g}s (Ctrl-C stops after the current cycle)")
        session.reconciler.watch(
            session.source, options, stop=stop, on_event=lambda e: output.line(e.line())
        )
    except ReconcileError as err:
        fail(output, str(err))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    output.line("watch stopped")


@cli.command()
@click.option("--git", "repo", required=True, metavar="REPO", help="the repository")
@click.option("--from", "base", required=True, metavar="REF[:PATH]", help="the base revision")
@click.option("--to", "head", default="HEAD", metavar="REF[:PATH]", show_default=True)
@click.option("--live", is_flag=True, help="show the plan of --to against live state instead")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
@common_options
def diff(
    repo: str,
    base: str,
    head: str,
    live: bool,
    fmt: str,
    common: Common,
) -> None:
    """What merging BASE..HEAD would change in desired state (or, with --live, in live state)."""
    output = common.output
    head_ref, _, path = head.partition(":")
    base_ref, _, base_path = base.partition(":")
    try:
        config = load_config([], common.config)
        holds = common.source_format or config.source_format
        new = git_source(repo, head_ref, path, holds, config.namespace)
        if live:
            session, desired = common.session(), new.load(new.revision())
            made = session.reconciler_for(desired, create_state=False).plan(desired)
            output.plan(made) if fmt == "text" else output.plain(_plan_text(made, fmt, head_ref))
            return
        old = git_source(repo, base_ref, base_path or path, holds, config.namespace)
        found = compare(
            old.load(old.revision()),
            new.load(new.revision()),
            base_name=base_ref,
            head_name=head_ref,
        )
    except ReconcileError as err:
        fail(output, str(err))
    text = {"text": found.render, "json": found.to_json, "markdown": found.to_markdown}[fmt]()
    output.plain(text if text.endswith("\n") else text + "\n")


def _plan_text(made: Plan, fmt: str, head: str) -> str:
    """A live plan as JSON, or as a pull-request comment in Markdown."""
    if fmt == "json":
        return made.to_json(indent=2) + "\n"
    headline = f"**{summary_line(made.summary)}**" if not made.is_empty else "**No changes.**"
    return (
        f"### Live state → `{head}`\n\n{headline}\n\n"
        f"<details><summary>Plan</summary>\n\n```diff\n{made.render()}```\n</details>\n"
    )


@cli.command()
@click.argument("revision")
@click.option("--git", "git", required=True, metavar="REPO[@REF][:PATH]", help="the source")
@click.option("--yes", "-y", is_flag=True, help="roll back without asking")
@common_options
def rollback(
    revision: str,
    git: str,
    yes: bool,
    common: Common,
) -> None:
    """Sync the desired state of an earlier applied revision again (plan shown first)."""
    output = common.output
    try:
        session = common.session((), git)
        source = session.source
        assert isinstance(source, GitSource)
        source.revision()  # the ref rolled back from exists (the ref status compares with)
        full = source.describe(revision).id
        made = session.reconciler.plan_rollback(source, full)
    except ReconcileError as err:
        fail(output, str(err))
    output.plan(made)
    if made.is_empty:
        sys.exit(0)
    if not yes:
        _confirm(output)
    _run_apply(output, session, made, None, full)
