"""Calling providers: the contract, retry policy, limits, parallel reads and progress events."""
