"""Bitrate-free textual conditioning for CADC (paper section 4.3): a frozen BLIP captions the
decoder's auxiliary reconstruction, so the caption costs no bits; c = c_aux + c_fix (eq. 12) goes
through the Stable Diffusion text encoder to the U-Net. A frozen CLIP image encoder gives the
training loss ||e(x) - e(x_hat)||_2. Everything loads from local folders (local_files_only);
the write_tiny_* functions build seeded random stand-ins for tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import BenchError

FIXED_PROMPT = ("A high-resolution, 8K, ultra-realistic image with sharp focus, vibrant colors, "
                "and natural lighting")
WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def prompt(caption: str, fixed: str = FIXED_PROMPT) -> str:
    """Eq. 12, c = c_aux + c_fix: the caption leads, the generic prompt keeps it stable."""
    caption = caption.strip()
    return f"{caption} {fixed}" if caption else fixed


def _folder(spec: dict, default: str) -> Path:
    from ..weights.resolver import weights_dir
    return Path(spec["path"]).expanduser() if spec.get("path") else weights_dir() / default


def _missing_files(folder: Path, groups: list[tuple[str, ...]]) -> list[str]:
    """Each group is satisfied by any one of its files; the unsatisfied ones, as 'a or b'."""
    return [" or ".join(g) for g in groups if not any((folder / f).is_file() for f in g)]


def _identity(folder: Path) -> dict:
    from .autoencoders import _weight_files
    return {"source": str(folder.resolve()), "sha256": _weight_files(folder)}


def _frozen(net):
    return net.float().eval().requires_grad_(False)


@dataclass
class Captioner:
    net: object
    processor: object
    max_new_tokens: int = 20
    image_size: int = 384
    identity: dict = field(default_factory=dict)

    @torch.no_grad()
    def caption(self, images: torch.Tensor) -> list[str]:
        """Images Bx3xHxW in [0, 1] -> one caption each, by greedy decoding (deterministic).
        The processor's own resize (bicubic) and normalisation, on tensors (do_rescale=False)."""
        size = {"height": self.image_size, "width": self.image_size}
        pixels = self.processor.image_processor(images=list(images.detach().float().clamp(0, 1)), size=size,
                                                do_rescale=False, return_tensors="pt").pixel_values
        device = next(self.net.parameters()).device
        ids = self.net.generate(pixel_values=pixels.to(device), num_beams=1, do_sample=False,
                                max_new_tokens=self.max_new_tokens)
        return [c.strip() for c in self.processor.batch_decode(ids, skip_special_tokens=True)]

    def to(self, device):
        self.net.to(device)
        return self


def load_captioner(spec: dict) -> Captioner:
    """The frozen BLIP captioner (blip-image-captioning-base in the paper) a [captioner] table names."""
    from transformers import BlipForConditionalGeneration, BlipProcessor
    folder = _folder(spec, "blip-image-captioning-base")
    missing = _missing_files(folder, [("config.json",), WEIGHTS, ("preprocessor_config.json", "processor_config.json"),
                                      ("tokenizer_config.json",), ("tokenizer.json", "vocab.txt")])
    if missing:
        raise BenchError(f"BLIP captioner not found: {folder} lacks {', '.join(missing)} (a saved "
                         "BlipForConditionalGeneration + BlipProcessor, e.g. blip-image-captioning-base); "
                         "give its folder as captioner.path=DIR, or turn captions off with captions=false")
    net = BlipForConditionalGeneration.from_pretrained(str(folder), local_files_only=True)
    processor = BlipProcessor.from_pretrained(str(folder), local_files_only=True)
    return Captioner(_frozen(net), processor, int(spec.get("max_new_tokens", 20)),
                     int(spec.get("image_size") or processor.image_processor.size["height"]), _identity(folder))


@dataclass
class TextEncoder:
    net: object
    tokenizer: object
    max_length: int = 77
    identity: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return self.net.config.hidden_size

    @torch.no_grad()
    def encode(self, prompts: list[str], device=None) -> torch.Tensor:
        """Prompts -> B x max_length x dim: CLIPTextModel's last_hidden_state on ids padded to
        max_length, what diffusers' SD 2.x pipelines give the U-Net as encoder_hidden_states."""
        ids = self.tokenizer(list(prompts), padding="max_length", max_length=self.max_length, truncation=True,
                             return_tensors="pt").input_ids
        device = device or next(self.net.parameters()).device
        return self.net.to(device)(ids.to(device)).last_hidden_state


def load_text_encoder(spec: dict) -> TextEncoder:
    """The frozen text encoder + tokenizer of the diffusers pipeline folder a table points at
    (its path, or the [autoencoder] table's lookup: pipeline_roots)."""
    from transformers import CLIPTextModel, CLIPTokenizer

    from .autoencoders import pipeline_roots
    need = [("tokenizer/vocab.json",), ("tokenizer/merges.txt",), ("text_encoder/config.json",),
            ("text_encoder/model.safetensors",)]
    tried, roots = [], (pipeline_roots(spec) if spec.get("path") or spec.get("kind") else [])
    for label, root in roots:
        tried.append(label)
        if not _missing_files(root, need):
            tok = CLIPTokenizer.from_pretrained(str(root), subfolder="tokenizer", local_files_only=True)
            net = CLIPTextModel.from_pretrained(str(root), subfolder="text_encoder", local_files_only=True)
            return TextEncoder(_frozen(net), tok, int(spec.get("max_length", 77)), _identity(root / "text_encoder"))
    raise BenchError(f"Stable Diffusion text encoder not found: looked in {'; '.join(tried) or 'no folder'} for "
                     f"{' and '.join(g[0] for g in need)}; give the diffusers pipeline folder (e.g. sd-turbo) "
                     "as text.path=DIR")


@dataclass
class ClipImageEncoder:
    net: object
    mean: torch.Tensor
    std: torch.Tensor
    size: int
    identity: dict = field(default_factory=dict)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Images Bx3xHxW in [0, 1] -> B x D projected embeddings, differentiable in the images
        (the whole image resized bilinearly to size x size, no crop, then normalised in torch)."""
        x = torch.nn.functional.interpolate(images.float(), size=(self.size, self.size), mode="bilinear",
                                            align_corners=False, antialias=True)
        x = (x - self.mean.to(x.device)[:, None, None]) / self.std.to(x.device)[:, None, None]
        return self.net.to(x.device)(pixel_values=x).image_embeds

    def to(self, device):
        self.net.to(device)
        return self


def load_clip_image(spec: dict) -> ClipImageEncoder:
    """The frozen CLIP image tower (with projection) for the CLIP loss."""
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection
    folder = _folder(spec, "clip-vit-large-patch14")
    missing = _missing_files(folder, [("config.json",), WEIGHTS, ("preprocessor_config.json",)])
    if missing:
        raise BenchError(f"CLIP image encoder not found: {folder} lacks {', '.join(missing)} (a saved "
                         "CLIPVisionModelWithProjection + CLIPImageProcessor, e.g. clip-vit-large-patch14); "
                         "give its folder as clip.path=DIR")
    net = CLIPVisionModelWithProjection.from_pretrained(str(folder), local_files_only=True)
    proc = CLIPImageProcessor.from_pretrained(str(folder), local_files_only=True)
    crop = proc.crop_size or {}
    size = int(crop.get("height") or net.config.image_size)
    return ClipImageEncoder(_frozen(net), torch.tensor(proc.image_mean), torch.tensor(proc.image_std), size,
                            _identity(folder))


# Tiny seeded random stand-ins (tests): the real folders' layout, nothing downloaded.

_WORDS = ["a", "an", "the", "of", "on", "in", "with", "and", "is", "are", "at", "to", "next", "near", "two",
          "sitting", "standing", "walking", "cat", "dog", "man", "woman", "person", "people", "car", "tree",
          "house", "sky", "water", "street", "road", "table", "field", "grass", "white", "black", "red", "blue",
          "green", "large", "small", "building", "window", "flowers", "bird", "horse", "boat", "city", "beach",
          "room", "food", "plate"]
_TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}


def write_tiny_blip(folder: Path, seed: int = 0) -> Path:
    """A BLIP captioner over a ~80-token vocabulary; [DEC] is its bos, [SEP] ends a caption. The
    text decoder's wider init (0.2) lets the image, not only the prefix, steer the random captions."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"] + _WORDS
    vocab += [c for c in "bcdefghijklmnopqrstuvwxyz" if c not in vocab]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    text = dict(vocab_size=len(vocab), pad_token_id=0, sep_token_id=3, eos_token_id=3, bos_token_id=5,
                max_position_embeddings=64, encoder_hidden_size=32, initializer_range=0.2, **_TINY)
    config = BlipConfig(text_config=text, vision_config=dict(image_size=32, patch_size=8, initializer_range=0.02,
                                                             **_TINY), projection_dim=16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        BlipForConditionalGeneration(config).save_pretrained(folder)
    tok = BertTokenizer(str(folder / "vocab.txt"), bos_token="[DEC]")
    BlipProcessor(BlipImageProcessor(size={"height": 32, "width": 32}), tok).save_pretrained(folder)
    return folder


def write_tiny_sd_text(folder: Path, seed: int = 0) -> Path:
    """An SD pipeline's tokenizer/ (byte-level CLIP BPE, no merges) and text_encoder/ (hidden 32)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    folder = Path(folder)
    (folder / "tokenizer").mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    (folder / "tokenizer" / "vocab.json").write_text(json.dumps(vocab))
    (folder / "tokenizer" / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "tokenizer" / "vocab.json"), str(folder / "tokenizer" / "merges.txt"),
                        pad_token="<|endoftext|>")
    tok.save_pretrained(folder / "tokenizer")
    config = CLIPTextConfig(vocab_size=len(vocab), max_position_embeddings=77, projection_dim=16,
                            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                            pad_token_id=vocab["<|endoftext|>"], **_TINY)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        CLIPTextModel(config).save_pretrained(folder / "text_encoder")
    return folder


def write_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A CLIP image tower with projection (32 px, patch 8, 16-d embeddings) and its processor."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )
    folder = Path(folder)
    config = CLIPVisionConfig(image_size=32, patch_size=8, projection_dim=16, **_TINY)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        CLIPVisionModelWithProjection(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder
