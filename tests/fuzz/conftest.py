"""Hypothesis profiles for the fuzz tests.

`ci` (the default, what `make test` runs): derandomized, a bounded number of examples per property, no
example database, so every run of the suite tries the same inputs. `fuzz` (`make fuzz`): thousands of
random examples per property. Pick one with HYPOTHESIS_PROFILE=fuzz.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("ci", derandomize=True, max_examples=60, print_blob=True, **_COMMON)
settings.register_profile("fuzz", max_examples=2000, print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
