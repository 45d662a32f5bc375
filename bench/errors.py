"""User-facing errors: one clear line naming the thing and the fix, never a traceback."""


class BenchError(Exception):
    """Bad input or environment; the CLI prints the message alone and exits 2."""


class CodecError(BenchError):
    """A codec failed on one input; the runner records it on the job row and goes on."""


class CodecUnavailable(BenchError):
    """A codec's binary, library feature or weights are missing on this machine."""


def unknown_name(kind: str, name: str, known, fix: str) -> BenchError:
    """The one message for a name a registry lacks: a did-you-mean, the known names, the fix."""
    import difflib
    known = sorted(known)
    hint = difflib.get_close_matches(name, known, n=1)
    return BenchError(f"unknown {kind} '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                      + f"; known: {', '.join(known)}. {fix}")
