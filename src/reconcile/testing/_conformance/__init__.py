"""Conformance suites a third party runs against its own provider or state backend."""
