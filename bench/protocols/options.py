"""--codec-option ID:key=value: the user's options (a trained checkpoint, mostly) for one
codec entry of a protocol. An entry that decodes with another entry's model (`model = ID`,
e.g. a sampler ablation) takes that entry's options too, so one checkpoint serves both."""

from __future__ import annotations

from ..codec.registry import parse_codec_spec
from ..errors import BenchError, unknown_name
from .model import CodecEntry, Protocol


def parse_codec_options(values: list[str] | None, protocol: Protocol) -> dict[str, dict]:
    """['sde:checkpoint=DIR', ...] -> {entry id: {key: value}}; an unknown id is an error."""
    ids = [e.id for e in protocol.codecs]
    out: dict[str, dict] = {}
    for value in values or []:
        entry_id, options = parse_codec_spec(value)
        if ":" not in value or not options:
            raise BenchError(f"--codec-option '{value}' must be ID:key=value (e.g. {ids[0]}:checkpoint=DIR)")
        if entry_id not in ids:
            raise unknown_name("codec entry", entry_id, ids, f"--codec-option takes an entry id of protocol "
                               f"'{protocol.name}' (see `bench list protocols`).")
        out.setdefault(entry_id, {}).update(options)
    return out


def entry_options(entry: CodecEntry, user: dict[str, dict]) -> tuple[dict, bool]:
    """The entry's options (the protocol's, then its model's user options, then its own) and
    whether the user supplied any of them."""
    _, options = parse_codec_spec(f"{entry.codec}:{entry.options}")
    given = {**user.get(entry.model_id, {}), **user.get(entry.id, {})}
    return {**options, **given}, bool(given)


def codec_spec(codec: str, options: dict) -> str:
    return codec + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")
