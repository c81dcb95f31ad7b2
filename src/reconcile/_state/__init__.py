"""The state layer: the ``State`` contract, its memory and SQLite stores, lock, key and marker."""
