"""Suite-wide settings.

Hypothesis: no per-example deadline. The suite runs on 2 shared cores, where an example that
normally takes 20 ms can take 300 ms under load; a deadline then fails the test for the machine's
sake, not the code's (speed targets live in ``benchmarks/``). Examples stay capped per test.
"""

from hypothesis import settings

settings.register_profile("commsim", deadline=None)
settings.load_profile("commsim")
