"""User-facing errors: one clear line naming the thing and the fix, never a traceback."""


class BenchError(Exception):
    """Bad input or environment; the CLI prints the message alone and exits 2."""


class CodecError(BenchError):
    """A codec failed on one input; the runner records it on the job row and goes on."""


class CodecUnavailable(BenchError):
    """A codec's binary, library feature or weights are missing on this machine."""
