"""The ``reconcile`` command line (click + rich), the outermost ring of the library."""

from ._app import cli, main

__all__ = ["cli", "main"]
