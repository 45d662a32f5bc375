"""bench: a rate-distortion benchmark suite for image codecs.

Kept import-light on purpose: codec worker processes import `bench` and must not pay
for torch. Heavy modules (metrics, store, plots) are imported where they are used.
"""

__version__ = "0.1.0"
