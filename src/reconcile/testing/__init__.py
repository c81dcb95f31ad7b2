"""Tools for testing providers and infrastructure logic built on reconcile."""

from ._memory import InjectedFailure, MemoryProvider

__all__ = ["InjectedFailure", "MemoryProvider"]
