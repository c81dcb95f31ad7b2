"""The state layer: the ``State`` contract and the values it speaks in, the memory and
SQLite stores, and the lock, key and marker the SQLite store keeps beside its file."""
