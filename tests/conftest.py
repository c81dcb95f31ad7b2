"""Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: ``dev`` (default) or ``ci``.

``ci`` has no per-example deadline (shared machines are noisy), more examples,
and prints the seed and the blob to reproduce any failure.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Verbosity, settings

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    print_blob=True,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
    verbosity=Verbosity.normal,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
