"""``python -m reconcile``: the same as the ``reconcile`` command."""

from reconcile._cli import main

main()
