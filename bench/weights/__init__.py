"""Network weights: every file the suite uses, as data (registry.py), one resolver that finds
and verifies a copy (resolver.py), and readers for the formats the copies ship in
(carriers.py). Importing this package imports neither torch nor any network library.

    from bench import weights as W
    W.resolve("alexnet").path
"""

from .registry import CHECKS, REGISTRY, SOURCE_ORDER, Source, WeightSpec, select, spec
from .resolver import (
    Candidate,
    Resolved,
    WeightsMissing,
    candidates,
    expand,
    fetch,
    find,
    library_versions,
    load_state_dict,
    missing_message,
    missing_packages,
    resolve,
    sha_text,
    unavailable,
    verified_bytes,
    verify,
    weights_dir,
)

__all__ = ["CHECKS", "REGISTRY", "SOURCE_ORDER", "Source", "WeightSpec", "select", "spec", "Candidate", "Resolved",
           "WeightsMissing", "candidates", "expand", "fetch", "find", "library_versions", "load_state_dict",
           "missing_message", "missing_packages", "resolve", "sha_text", "unavailable", "verified_bytes",
           "verify", "weights_dir"]
