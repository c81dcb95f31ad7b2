"""Leaf helpers every layer may use: the exception tree, time as a dependency, GC pauses."""
