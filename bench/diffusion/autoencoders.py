"""Latent autoencoders through diffusers, chosen by a codec config's `autoencoder` table:

    [autoencoder]
    kind = "taesd"            # sd | taesd | kl-f4 | tiny (autoencoders.toml)
    path = "/models/taesd"    # optional: a local folder; else $BENCH_WEIGHTS_DIR/<kind>, else hub_id in the HF cache

Nothing is downloaded (local_files_only). Latents follow the diffusion model's convention:
(posterior mode - shift_factor) * scaling_factor for AutoencoderKL, TAESD's latents as they are.
The weights are frozen; the sha256 of their files identifies them in codec checkpoints and results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import tomllib

from ..errors import BenchError

KINDS_FILE = Path(__file__).with_name("autoencoders.toml")


@lru_cache(maxsize=1)
def kinds() -> dict[str, dict]:
    return tomllib.loads(KINDS_FILE.read_text())


def kind_info(kind: str) -> dict:
    if kind not in kinds():
        from ..errors import unknown_name
        raise unknown_name("autoencoder kind", kind, list(kinds()), "set the config's [autoencoder] kind")
    return kinds()[kind]


@dataclass
class LatentAutoencoder:
    kind: str
    net: object
    factor: int
    channels: int
    identity: dict = field(default_factory=dict)

    def _kl(self) -> bool:
        return type(self.net).__name__ == "AutoencoderKL"

    def encode(self, x):
        """Images Bx3xHxW in [0, 1] -> latents Bx C x H/f x W/f."""
        if self._kl():
            c = self.net.config
            return (self.net.encode(2 * x - 1).latent_dist.mode() - (c.shift_factor or 0.0)) * c.scaling_factor
        return self.net.encode(2 * x - 1).latents

    def decode(self, latent):
        """Latents -> images in [0, 1] (clamped)."""
        if self._kl():
            c = self.net.config
            latent = latent / c.scaling_factor + (c.shift_factor or 0.0)
        return ((self.net.decode(latent).sample + 1) / 2).clamp(0, 1)

    def to(self, device):
        self.net.to(device)
        return self


def _weight_files(folder: Path) -> dict:
    from ..learned.checkpoints import file_sha256
    return {f.name: file_sha256(f) for f in sorted(folder.iterdir())
            if f.is_file() and f.suffix in (".safetensors", ".bin", ".pth", ".ckpt")}


def _taesd_original(folder: Path, names: list[str]):
    """TAESD's original release (taesd_encoder / taesd_decoder) into diffusers' AutoencoderTiny:
    encoder key k -> encoder.layers.k; decoder key i.rest -> decoder.layers.(i-1).rest (the
    original decoder's layer 0 is a parameter-free clamp)."""
    files = []
    for stem in names:
        found = [folder / f"{stem}{s}" for s in (".safetensors", ".pth") if (folder / f"{stem}{s}").is_file()]
        if not found:
            return None
        files.append(found[0])
    from diffusers import AutoencoderTiny

    from ..learned.checkpoints import load_state_dict
    enc, dec = (load_state_dict(f) for f in files)
    sd = {f"encoder.layers.{k}": v.float() for k, v in enc.items()}
    for k, v in dec.items():
        i, rest = k.split(".", 1)
        sd[f"decoder.layers.{int(i) - 1}.{rest}"] = v.float()
    net = AutoencoderTiny()
    net.load_state_dict(sd, strict=True)
    return net


def _from_folder(info: dict, folder: Path):
    import diffusers
    cls = getattr(diffusers, info["class"])
    sub = info.get("subfolder")
    if sub and all((folder / sub / f).is_file() for f in info["files"]):
        folder = folder / sub
    if all((folder / f).is_file() for f in info["files"]):
        return cls.from_pretrained(str(folder), local_files_only=True).float(), folder
    if info.get("original_files") and (net := _taesd_original(folder, info["original_files"])) is not None:
        return net, folder
    return None, folder


def _missing(kind: str, info: dict, tried: list[str]) -> BenchError:
    sub = f"{info['subfolder']}/" if info.get("subfolder") else ""
    need = " and ".join(f"{sub}{f}" for f in info["files"])
    alt = (f" (or {', '.join(info['original_files'])}.safetensors)" if info.get("original_files") else "")
    return BenchError(f"autoencoder '{kind}' ({info['title']}) not found: looked in {'; '.join(tried)}. "
                      f"A diffusers folder needs {need}{alt}; give its folder as the config's autoencoder path "
                      f"(or the codec option autoencoder_path=DIR)")


def pipeline_roots(spec: dict) -> list[tuple[str, Path]]:
    """The folders an [autoencoder] table points at, in lookup order (the config's path, else
    $BENCH_WEIGHTS_DIR/<kind>, then the HF cache's local snapshot): where a pipeline's other
    parts (its unet/) are found too."""
    from ..weights import weights_dir
    if spec.get("path"):
        return [(str(Path(spec["path"]).expanduser()), Path(spec["path"]).expanduser())]
    kind = spec.get("kind", "")
    roots = [(str(weights_dir() / kind), weights_dir() / kind)]
    hub = kind_info(kind).get("hub_id")
    if hub:
        try:
            from huggingface_hub import snapshot_download
            roots.append((f"the Hugging Face cache ({hub})", Path(snapshot_download(hub, local_files_only=True))))
        except Exception:
            roots.append((f"the Hugging Face cache ({hub})", Path("/nonexistent")))
    return roots


def load_autoencoder(spec: dict) -> LatentAutoencoder:
    """The frozen autoencoder a config's [autoencoder] table names (on the CPU, float32, eval)."""
    import torch
    kind = spec.get("kind", "")
    info = kind_info(kind)
    if "random" in info:
        import diffusers
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.get("seed", 0)))
            net = getattr(diffusers, info["class"])(**info["random"])
        identity = {"source": f"random {info['class']} (seed {int(spec.get('seed', 0))}): not a trained latent space"}
    else:
        from ..weights import weights_dir
        tried, net = [], None
        folders = [Path(spec["path"]).expanduser()] if spec.get("path") else [weights_dir() / kind]
        for folder in folders:
            tried.append(str(folder))
            if folder.is_dir():
                net, where = _from_folder(info, folder)
                if net is not None:
                    identity = {"source": str(where.resolve()), "sha256": _weight_files(where)}
                    break
        if net is None and not spec.get("path") and info.get("hub_id"):
            tried.append(f"the Hugging Face cache ({info['hub_id']})")
            try:
                from huggingface_hub import snapshot_download
                root = Path(snapshot_download(info["hub_id"], local_files_only=True))
                net, where = _from_folder(info, root)
                if net is not None:
                    identity = {"source": f"hf:{info['hub_id']}", "sha256": _weight_files(where)}
            except Exception:
                net = None
        if net is None:
            raise _missing(kind, info, tried)
    net = net.eval().requires_grad_(False)
    return LatentAutoencoder(kind, net, int(info["factor"]), int(info["channels"]), identity)
