"""One writer per results folder: `bench run` and the importers hold an exclusive lock on
`<out>/.bench-writer.lock` for as long as they write, so two runs on one folder do not
repeat each other's work. The lock is the kernel's (flock): a killed process releases it,
so a stale lock never blocks a resume."""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import BenchError

LOCK_NAME = ".bench-writer.lock"
_held: dict[str, list] = {}     # path -> [fd, depth]: one process may nest (a protocol runs several runs)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another bench process"
    when = time.strftime("%H:%M:%S", time.localtime(info.get("started", 0)))
    return f"another bench process (pid {info.get('pid')}, `{info.get('command', '?')}`, since {when})"


@contextmanager
def writer_lock(root: str | Path):
    try:
        import fcntl
    except ImportError:     # no flock (Windows): no protection, as before
        yield
        return
    path = Path(root) / LOCK_NAME
    key = str(path.resolve())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BenchError(f"results folder {root} is being written by {_holder(path)}; wait for it to finish "
                         f"(then re-run to add what it did not do) or pass another --out") from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "started": time.time(),
                             "command": " ".join(["bench", *sys.argv[1:]])[:200]}).encode())
    _held[key] = [fd, 1]
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)    # closing releases the lock
