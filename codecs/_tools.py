"""Running external codec binaries (ffmpeg, VTM, bpgenc): finding them and calling them.

A failing binary becomes a CodecError carrying the tail of its output, so the runner
records one clear line on the job's row instead of a traceback.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from bench.errors import CodecError


def find_binary(names: tuple[str, ...], env_var: str | None = None, directory: str | None = None) -> str | None:
    """First of `names` in `directory` (an adapter option), then $env_var, then PATH."""
    for folder in (directory, os.environ.get(env_var) if env_var else None):
        if folder:
            for name in names:
                for candidate in (Path(folder) / name, Path(folder) / "bin" / name):
                    if candidate.is_file() and os.access(candidate, os.X_OK):
                        return str(candidate)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def not_found_message(names: tuple[str, ...], env_var: str) -> str:
    return f"{names[0]} not found on PATH; set {env_var} to the folder holding {' or '.join(names)}"


def missing_binary(groups: tuple[tuple[str, ...], ...], env_var: str, directory: str | None = None) -> str | None:
    """Why a codec that needs one binary of each group cannot run (None when all are found)."""
    for names in groups:
        if not find_binary(names, env_var, directory):
            return not_found_message(names, env_var)
    return None


def run(cmd: list[str], *, input: bytes | None = None, cwd: str | None = None,
        timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run a codec binary; a non-zero exit is a CodecError with the last lines it printed."""
    try:
        proc = subprocess.run(cmd, input=input, cwd=cwd, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise CodecError(f"{cmd[0]} could not be started (missing or not executable)") from None
    except subprocess.TimeoutExpired:
        raise CodecError(f"{Path(cmd[0]).name} ran longer than {timeout:g} s") from None
    if proc.returncode != 0:
        text = (proc.stderr or b"").decode(errors="replace") + (proc.stdout or b"").decode(errors="replace")
        tail = " | ".join(line.strip() for line in text.strip().splitlines()[-3:])
        raise CodecError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}): {tail or 'no output'}")
    return proc


def ffmpeg_exe() -> str:
    """The static ffmpeg that the imageio-ffmpeg wheel ships (has libx265, libvvenc, addroi)."""
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def version_line(cmd: tuple[str, ...], pattern: str) -> str:
    """The first match of `pattern` in what `cmd` prints (binaries print their version on -h)."""
    try:
        proc = subprocess.run(list(cmd), capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (proc.stdout or b"").decode(errors="replace") + (proc.stderr or b"").decode(errors="replace")
    match = re.search(pattern, text)
    return match.group(1).strip() if match else "unknown"
