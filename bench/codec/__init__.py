"""Codecs: the adapter API (api.py), the registry that finds adapters by name
(registry.py), per-image rate targeting (rate_target.py) and decoding a stored bitstream
in a fresh process (verify_decode.py).

Adapters import what they need from here:

    from bench.codec import Codec, register_codec
"""

from .api import Codec
from .registry import (
           CODECS,
           codec_listing,
           get_codec_class,
           make_codec,
           parse_codec_spec,
           register_codec,
           use_codec_paths,
)

__all__ = ["CODECS", "Codec", "codec_listing", "get_codec_class", "make_codec", "parse_codec_spec", "register_codec",
           "use_codec_paths"]
