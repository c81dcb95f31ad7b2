"""``--prune``, ``--max-deletes`` and ``--allow-prune-all``: one prune policy for every command.

Used by ``plan --git``, ``apply --git`` and ``watch``; the options become one
``PrunePolicy`` (or None: prune is off), the value ``Reconciler.sync`` takes too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from reconcile._gitops.guard import PrunePolicy

__all__ = ["prune_options"]


def prune_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the prune options; pass them to ``fn`` as one ``prune: PrunePolicy | None``."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any, prune: bool, max_deletes: int | None, allow_prune_all: bool, **kwargs: Any
    ) -> Any:
        policy = PrunePolicy(max_deletes=max_deletes, allow_prune_all=allow_prune_all)
        if not prune and (max_deletes is not None or allow_prune_all):
            raise click.UsageError("--max-deletes and --allow-prune-all need --prune")
        return fn(*args, prune=policy if prune else None, **kwargs)

    options = [
        click.option("--prune", is_flag=True, help="delete resources the revision no longer has"),
        click.option(
            "--max-deletes", type=click.IntRange(0), help="refuse prunes larger than this"
        ),
        click.option(
            "--allow-prune-all", is_flag=True, help="allow a prune of everything reconcile manages"
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper
