"""Shared machinery of network codecs: the codec base (codec.py: models per rate point,
padding, batching, estimated rates, identity), the bitstream container (container.py) and
user checkpoints (checkpoints.py). Importing it imports no network library (torch loads
when a model is built), so listing codecs stays cheap."""

from .codec import LearnedCodec, information_bits
from .container import Container, pack, unpack

__all__ = ["Container", "LearnedCodec", "information_bits", "pack", "unpack"]
