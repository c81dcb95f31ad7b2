"""The ``reconcile`` command line (click + rich), the outermost ring of the library."""

from . import _gitops as _gitops  # registers watch, diff and rollback on the cli group
from ._app import cli, main

__all__ = ["cli", "main"]
