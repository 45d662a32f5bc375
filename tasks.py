#!/usr/bin/env python3
"""The README's two commands, with nothing but Python 3 needed beforehand:

    python3 tasks.py run  [bench run options]   # set up .venv, then `bench run`
    python3 tasks.py test [pytest options]      # set up .venv (+ chromium), then the tests

The environment is built from requirements.lock (exact versions, installed without
dependency resolution, so every machine gets the same set) and rebuilt when the lock changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
LOCKS = [ROOT / "requirements.lock", ROOT / "requirements-nodeps.lock"]
STAMP = VENV / ".bench-lock-sha256"


def sh(*cmd: str, **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def lock_digest() -> str:
    h = hashlib.sha256()
    for f in LOCKS + [ROOT / "pyproject.toml"]:
        h.update(f.read_bytes())
    return h.hexdigest()


def ensure_env() -> None:
    digest = lock_digest()
    if STAMP.exists() and STAMP.read_text().strip() == digest and (BIN / "bench").exists():
        return
    if not (BIN / "python").exists():
        sh(sys.executable, "-m", "venv", str(VENV))
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-deps"]
    # requirements.lock pins torch with '===' so pip never takes a local '+cpu' build that has no
    # matching torchvision (see DEVELOPERS.md); the CUDA build runs on CPU-only machines too.
    sh(*pip, "-r", str(LOCKS[0]))
    # Packages installed without their declared dependencies (why: comments in the file).
    sh(*pip, "-r", str(LOCKS[1]))
    sh(*pip, "-e", str(ROOT))
    STAMP.write_text(digest)


def ensure_chromium() -> None:
    """The report test renders the HTML in Debian's headless Chromium."""
    if shutil.which("chromium") or os.environ.get("BENCH_SKIP_CHROMIUM"):
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            sh("apt-get", "update", "-q", env=env, stdout=subprocess.DEVNULL)
            sh("apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", env=env,
               stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError:
            print("warning: could not install chromium; the report screenshot test will be skipped")
    else:
        print("note: chromium not found and not root: the report screenshot test will be skipped")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "setup"):
        print(__doc__)
        return 2
    task, rest = argv[0], [a for a in argv[1:] if a != "--"]
    ensure_env()
    if task == "setup":
        return 0
    if task == "run":
        return subprocess.call([str(BIN / "bench"), "run", *rest], cwd=ROOT)
    ensure_chromium()
    return subprocess.call([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
