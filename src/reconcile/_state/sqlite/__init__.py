"""The SQLite state store, split along its seams: the store over its lock, journal and
connection, over the schema, the rows, the batch's pending writes and the fault checks."""

from .schema import SCHEMA_VERSION
from .store import SQLiteState

__all__ = ["SCHEMA_VERSION", "SQLiteState"]
