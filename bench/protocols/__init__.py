"""Paper protocols as data: protocols/<name>.toml names a paper's datasets, codecs and rate
points, ROI mask sets, metrics, BD anchors and figure layout; `bench run --protocol NAME`
runs it through the ordinary run pipeline and `bench report --protocol NAME` lays the
results out as the paper does.

    model.py    the protocol's parts (codec entries, runs, figures, tables)
    loader.py   finding and parsing a protocol file, checked against the registries
    options.py  the user's --codec-option values (checkpoints) bound to codec entries
    plan.py     what can run here and what is missing (one line each, with the fix)
    subset.py   --limit-images: the first N images of a dataset as a folder of that name
    execute.py  the plan through bench.pipeline.run, one call per run group and rate list
    record.py   what a protocol run stored (entry -> config hash, missing lines) for the report
"""

from .loader import PROTOCOLS_DIR, find_protocol, load_protocol, protocol_names
from .model import CodecEntry, Figure, Protocol, RunGroup, Table

__all__ = ["PROTOCOLS_DIR", "CodecEntry", "Figure", "Protocol", "RunGroup", "Table", "find_protocol",
           "load_protocol", "protocol_names"]
