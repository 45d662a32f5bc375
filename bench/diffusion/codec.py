"""The base adapter of the diffusion codecs: a model config, one model for every rate, and
the `bench train` folder as its checkpoint.

    --codecs sde:checkpoint=DIR            the folder `bench train sde ... --out DIR` wrote
    --codecs sde:pretrained=false          seeded random weights of config=tiny (code path, speed)
    --codecs sde:checkpoint=DIR,beta=0     options named in `sampler_options` override the
                                           config's [sampler] table (ablations)
    autoencoder_path=DIR                   where the frozen autoencoder is, if not where the config
                                           says; its weights must be those the checkpoint was trained with

The papers publish no weights, so there is no `pretrained=true`: a run without a checkpoint
stops before any work with the command that trains one.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from ..errors import BenchError
from ..learned import LearnedCodec
from ..train.checkpoint import TrainedRun
from .config import apply_overrides, load_config


class AtRate(NamedTuple):
    net: Any
    rate: float


class DiffusionCodec(LearnedCodec):
    rate_is_integer = False
    library = "diffusers"
    checkpoint_type = TrainedRun
    sampler_options: ClassVar[dict[str, type]] = {}     # option -> type, overriding config["sampler"]

    def __init__(self, config: str | None = None, checkpoint: str | None = None, pretrained: bool = True,
                 autoencoder_path: str | None = None, noise_seed: int = 0, estimate: bool = False, seed: int = 0,
                 **options: Any):
        unknown = [k for k in options if k not in self.sampler_options]
        if unknown:
            raise BenchError(f"{self.name}: unknown option {unknown[0]}=; options: config, checkpoint, pretrained, "
                             f"autoencoder_path, noise_seed, estimate, seed, {', '.join(self.sampler_options)}")
        if checkpoint and config:
            raise BenchError(f"{self.name}: checkpoint=DIR carries its own config; drop config={config}")
        sampler = {}
        for key, value in options.items():
            try:
                sampler[key] = self.sampler_options[key](value)
            except (TypeError, ValueError):
                raise BenchError(f"{self.name}: option {key}={value!r} must be a {self.sampler_options[key].__name__}")
        self.check_sampler(sampler)
        identity: dict[str, Any] = dict(sampler)
        if not checkpoint:
            identity["config"] = self._config_identity(config or "tiny")
        if int(noise_seed):
            identity["noise_seed"] = int(noise_seed)
        super().__init__(pretrained=pretrained, checkpoint=checkpoint, estimate=estimate, seed=seed, **identity)
        self.noise_seed = int(noise_seed)
        base = self.checkpoint.config if self.checkpoint is not None else self.load_config(config or "tiny")
        overrides = {f"sampler.{k}": v for k, v in sampler.items()}
        if autoencoder_path:
            overrides["autoencoder.path"] = str(Path(autoencoder_path).expanduser())
        self.config = apply_overrides(base, overrides)
        self.multiple = self.padding_multiple(self.config)

    def _config_identity(self, config: str) -> str:
        """A config's name, or for a file of the user's its content hash (never its path)."""
        if (self.config_folder() / f"{config}.toml").is_file():
            return config
        path = Path(config).expanduser()
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else config

    def check_sampler(self, sampler: dict) -> None:
        """One clear line for a bad sampler option (adapters extend it)."""

    # --- what a diffusion adapter implements ---------------------------------------------
    @classmethod
    def model_class(cls):
        """The nn.Module class of the codec's model: Model(config, autoencoder)."""
        raise NotImplementedError

    @classmethod
    def padding_multiple(cls, config: dict) -> int:
        """The autoencoder's factor times the U-Net's downsampling (at least the entropy
        model's hyper latent, 4): inputs are padded to it."""
        from .autoencoders import kind_info
        levels = len(config["denoiser"].get("block_out_channels", [0] * 4))
        return int(kind_info(config["autoencoder"]["kind"])["factor"]) * max(4, 2 ** (levels - 1))

    # --- configs, models, training ----------------------------------------------------------
    @classmethod
    def config_folder(cls) -> Path:
        return Path(inspect.getfile(cls)).parent / "configs"

    @classmethod
    def load_config(cls, name: str, overrides=()) -> dict:
        return load_config(cls.config_folder(), name, overrides)

    @classmethod
    def build_model(cls, config: dict):
        from .autoencoders import load_autoencoder
        return cls.model_class()(config, load_autoencoder(config["autoencoder"]))

    @classmethod
    def training_versions(cls) -> dict[str, str]:
        from ..weights import library_versions
        return library_versions("torch", "diffusers", "compressai", "safetensors")

    def build(self, rate: float):
        return self.build_model(self.config)

    def model(self, rate: float) -> "AtRate":
        """One network for every rate; compress/decompress get it with the rate point."""
        return AtRate(super().model(0.0), rate)

    def _load(self, rate: float):
        if self.checkpoint is None:
            return super()._load(rate)
        from safetensors.torch import load_file
        net = self.build(rate)
        missing, unexpected = net.load_state_dict(load_file(str(self.checkpoint.weights())), strict=False)
        missing = [k for k in missing if not k.endswith(net.derived_keys) and not k.startswith("autoencoder.")]
        if missing or unexpected:
            raise BenchError(f"checkpoint {self.checkpoint.path} does not fit config's model "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]}); retrain it")
        trained_with = self.checkpoint.meta.get("autoencoder", {}).get("sha256")
        if trained_with and trained_with != net.autoencoder.identity.get("sha256"):
            raise BenchError(f"checkpoint {self.checkpoint.path} was trained with other autoencoder weights "
                             f"({trained_with}) than those found ({net.autoencoder.identity.get('sha256')}); "
                             "give autoencoder_path=DIR of the ones it was trained with")
        return net

    def prepare(self, net, device: str):
        return net.place(device)

    def unavailable_at(self, rates: list[float]) -> str | None:
        if self.checkpoint is None and self.pretrained:
            return (f"{self.name} has no published weights; train them: `bench train {self.name} --config tiny "
                    f"--data FOLDER --out DIR`, then --codecs {self.name}:checkpoint=DIR (pretrained=false runs "
                    "seeded random weights: the code path and speed only)")
        try:
            from .autoencoders import kind_info, load_autoencoder
            if "random" not in kind_info(self.config["autoencoder"]["kind"]):
                load_autoencoder(self.config["autoencoder"])
        except BenchError as exc:
            return str(exc)
        return None

    def weights_identity(self) -> dict:
        if self.checkpoint is not None:
            return {"source": "bench train checkpoint", **self.checkpoint.identity(),
                    "autoencoder": {"sha256": self.checkpoint.meta.get("autoencoder", {}).get("sha256")}}
        return {"source": f"random initialisation of config {self.options.get('config')} (seed {self.seed}); "
                          "not a trained model"}

    def versions(self) -> dict[str, str]:
        return self.training_versions()

    def warnings(self) -> list[str]:
        out = super().warnings()
        if self.checkpoint is not None and not self.checkpoint.meta.get("complete", False):
            out.append(f"{self.name}: checkpoint {self.checkpoint.path} is from an unfinished training run "
                       f"(step {self.checkpoint.meta.get('step')} of {self.checkpoint.meta.get('total_steps')})")
        return out
