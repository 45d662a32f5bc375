"""The base of every network codec (CompressAI models, ILLM, the diffusion codecs).

What it does once for all of them:
- one model per rate point, built on first use and kept (per process, on the run's device);
  weights from the official checkpoint (through the weights resolver), a user checkpoint
  (`checkpoint=FILE|FOLDER`), or a seeded random initialisation when asked
  (`pretrained=false`, for tests and timing; such runs say so);
- images padded (edge replication, bottom/right) to the model's multiple and cropped back,
  so any size works; reconstructions rounded to 8 bits;
- the bitstream container (bench.learned.container): bpp counts every byte of it;
- same-size images coded as one batch (the device executor's batch calls);
- `estimate=true`: rows whose bpp is the model's likelihood estimate (`bpp_source
  estimated`); the bitstream still carries the real entropy-coded strings, so decoding
  from the bytes alone works and the two rates can be compared;
- describe(): the weights' identity (checkpoint sha256 or the official table) and the
  versions of torch and the model library.

An adapter says how to build its architecture for a rate point and how to turn a padded
image batch into entropy-coded strings and back (`compress`/`decompress`).
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import numpy as np

from ..codec import Codec
from ..errors import BenchError
from .checkpoints import UserCheckpoint, load_state_dict
from .container import Container, pack, unpack

Coded = tuple[list[bytes], list[int]]     # one image's entropy-coded streams and its integer fields


def information_bits(likelihoods) -> list[float]:
    """Per image: -sum log2 of the likelihoods of all its coded symbols (the rate an ideal
    entropy coder would reach; what `estimate=true` reports)."""
    total = sum(-(lk.clamp_min(1e-9).log2()).flatten(1).sum(1) for lk in likelihoods)
    return [float(b) for b in total]


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise BenchError(f"option {name}= takes true or false, got {value!r}")


class LearnedCodec(Codec):
    uses_device = True
    rate_param = "quality"
    extension = "bnc"
    multiple: ClassVar[int] = 64            # total downsampling of the model: inputs are padded to it
    library: ClassVar[str] = "torch"        # the distribution holding the model code (in versions())
    container_id: ClassVar[str] = ""        # the codec id written in the bitstream (default: name)
    checkpoint_type: ClassVar[type] = UserCheckpoint   # what checkpoint=PATH names

    def __init__(self, pretrained: bool = True, checkpoint: str | None = None, estimate: bool = False,
                 seed: int = 0, **options: Any):
        self.pretrained, self.estimate, self.seed = _flag(pretrained, "pretrained"), _flag(estimate, "estimate"), seed
        self.checkpoint = self.checkpoint_type(checkpoint) if checkpoint else None
        identity = dict(options)          # what identifies results: never a path
        if self.checkpoint is not None:    # a short tag for labels; describe() carries the full sha256
            identity["checkpoint"] = hashlib.sha256(repr(self.checkpoint.identity()).encode()).hexdigest()[:12]
        elif not self.pretrained:
            identity.update(pretrained=False, seed=int(seed))
        if self.estimate:
            identity["estimate"] = True
            self.bpp_source = "estimated"
        super().__init__(**identity)
        self._models: dict[float, Any] = {}

    # --- what an adapter implements -------------------------------------------------
    def build(self, rate: float):
        """The architecture for a rate point, randomly initialised (torch's default init)."""
        raise NotImplementedError

    def official_weights(self, rate: float) -> str:
        """Name (in bench.weights) of the official checkpoint for a rate point."""
        raise NotImplementedError

    def from_state_dict(self, rate: float, state_dict: dict):
        net = self.build(rate)
        net.load_state_dict(state_dict)
        return net

    def prepare(self, net, device: str):
        """Ready a loaded network for coding on `device` (entropy tables, device placement)."""
        return net.to(device)

    def compress(self, model, x) -> list[Coded]:
        """Padded batch Bx3xHxW in [0, 1] -> per image: (streams, fields). An ROI codec
        (supports_roi) gets a third argument: the padded importance maps (None: no mask)."""
        raise NotImplementedError

    def decompress(self, model, coded: list[Coded], height: int, width: int):
        """The padded reconstructions (Bx3xHxW in [0, 1]) of images of one padded size."""
        raise NotImplementedError

    def likelihood_bits(self, model, x) -> list[float]:
        """Per image of a padded batch: the model's estimate of its rate in bits (estimate=true)."""
        raise NotImplementedError

    # --- models -----------------------------------------------------------------------
    def _random(self, rate: float):
        import torch
        seed = int.from_bytes(hashlib.sha256(f"{self.name}|{self.seed}|{rate:g}".encode()).digest()[:4], "little")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.build(rate)

    def _load(self, rate: float):
        from .. import weights as W
        if self.checkpoint is not None:
            return self.from_state_dict(rate, load_state_dict(self.checkpoint.file(rate)))
        if not self.pretrained:
            return self._random(rate)
        found = W.resolve(self.official_weights(rate))
        return self.from_state_dict(rate, load_state_dict(found.path))

    def model(self, rate: float):
        if rate not in self._models:
            import torch
            with torch.no_grad():
                net = self._load(rate).eval().requires_grad_(False)
                self._models[rate] = self.prepare(net, self.device)
        return self._models[rate]

    def unavailable_at(self, rates: list[float]) -> str | None:
        """Why these rate points cannot run here (a missing official checkpoint), before any work."""
        if self.checkpoint is not None or not self.pretrained:
            return None
        from .. import weights as W
        for rate in rates:
            found, rejected = W.find(self.official_weights(rate))
            if found is None:
                return W.missing_message(W.spec(self.official_weights(rate)), rejected)
        return None

    # --- coding -------------------------------------------------------------------------
    def _pad(self, images: list[np.ndarray]):
        import torch
        h, w = images[0].shape[:2]
        ph, pw = -h % self.multiple, -w % self.multiple
        batch = np.stack([np.pad(im, ((0, ph), (0, pw), (0, 0)), mode="edge") for im in images])
        return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0).to(self.device)

    @staticmethod
    def _pad_rois(rois, size) -> list[np.ndarray | None]:
        """ROI importance maps padded like their images (an ROI codec's compress() gets them)."""
        out = []
        for roi in rois:
            if roi is not None:
                roi = np.pad(roi, ((0, size[0] - roi.shape[0]), (0, size[1] - roi.shape[1])), mode="edge")
            out.append(roi)
        return out

    def encode(self, image: np.ndarray, rate: float, roi: np.ndarray | None = None) -> bytes:
        return self.encode_batch([image], rate, [roi])[0]

    def encode_batch(self, images: list[np.ndarray], rate: float, rois=None) -> list[bytes]:
        import torch
        h, w = images[0].shape[:2]
        if any(im.shape[:2] != (h, w) for im in images):
            raise BenchError(f"{self.name}: a batch must hold images of one size")
        model = self.model(rate)
        with torch.no_grad():
            x = self._pad(images)
            extra = [self._pad_rois(rois or [None] * len(images), x.shape[-2:])] if self.supports_roi else []
            coded = self.compress(model, x, *extra)
            bits = self.likelihood_bits(model, x, *extra) if self.estimate else [None] * len(images)
        return [pack(Container(self.container_id or self.name, rate, h, w, tuple(streams), tuple(fields),
                               estimated_bits=b)) for (streams, fields), b in zip(coded, bits)]

    def decode(self, data: bytes) -> np.ndarray:
        return self.decode_batch([data])[0]

    def decode_batch(self, data: list[bytes]) -> list[np.ndarray]:
        import torch
        boxes = [unpack(d, self.container_id or self.name) for d in data]
        out: list[np.ndarray | None] = [None] * len(boxes)
        groups: dict[tuple, list[int]] = {}
        for i, c in enumerate(boxes):
            groups.setdefault((c.rate, c.height, c.width), []).append(i)
        for (rate, h, w), idx in groups.items():
            ph, pw = h + (-h % self.multiple), w + (-w % self.multiple)
            with torch.no_grad():
                x_hat = self.decompress(self.model(rate), [(list(boxes[i].streams), list(boxes[i].fields))
                                                          for i in idx], ph, pw)
            pixels = (x_hat[:, :, :h, :w].clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
            for i, p in zip(idx, pixels.numpy()):
                out[i] = np.ascontiguousarray(p)
        return out

    def rate_bits(self, data: bytes) -> float:
        if self.estimate:
            return float(unpack(data, self.container_id or self.name).estimated_bits)
        return super().rate_bits(data)

    # --- identity -----------------------------------------------------------------------
    def weights_identity(self) -> dict:
        if self.checkpoint is not None:
            return {"source": "user checkpoint", **self.checkpoint.identity()}
        if not self.pretrained:
            return {"source": f"random initialisation (seed {self.seed}); not a trained model"}
        from .. import weights as W
        from .checkpoints import file_sha256
        files = {}
        for rate in range(int(self.rate_range[0]), int(self.rate_range[1]) + 1):
            s = W.spec(self.official_weights(rate))
            if s.check != "unpublished":
                files[str(rate)] = f"{s.filename} (sha256 {s.sha256}...)"
            elif (found := W.find(s.name)[0]) is not None:     # no published hash: record the copy used
                files[str(rate)] = f"{s.filename} (sha256 {file_sha256(found.path)})"
        return {"source": "official checkpoints", "files": files}

    def describe(self) -> dict:
        return {**super().describe(), "weights": self.weights_identity(), "pad": f"edge to a multiple of "
                f"{self.multiple}", "container": "bench.learned.container v1"}

    def versions(self) -> dict[str, str]:
        from ..weights import library_versions
        return library_versions("torch", self.library)

    @classmethod
    def unavailable(cls) -> str | None:
        from ..weights import missing_packages
        return missing_packages(("torch", "torch"), (cls.library.replace("-", "_"), cls.library))

    def warnings(self) -> list[str]:
        if self.checkpoint is None and not self.pretrained:
            return [f"{self.name}: random weights (pretrained=false): its rows measure speed and the code path, "
                    "not compression quality"]
        return []
