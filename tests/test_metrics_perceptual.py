"""LPIPS, DISTS (real weights), masked variants, and the no-reference metrics' code paths."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench import weights as W
from bench.errors import BenchError
from bench.metrics.dists import DISTS
from bench.metrics.lpips import LPIPSVGG, LPIPSAlex
from bench.metrics.psnr import PSNR, masked_mse_255
from bench.weights.carriers import read

# pyiqa's calibration pairs (5 TID2013 images) ship with its wheel as site-packages/ResultsCalibra
CALIBRA = Path(importlib.util.find_spec("pyiqa").origin).parent.parent / "ResultsCalibra" \
    if importlib.util.find_spec("pyiqa") else Path("/nonexistent")
PAIRS = ("I03", "I04", "I06", "I08", "I19")
# Published values of the original implementations, pyiqa ResultsCalibra/ResultsCalibra.md
# ("LPIPS(org)", "DISTS(org)"; 4 decimals) and "MUSIQ/koniq10k(ours imported)" (3 decimals).
PUBLISHED = {
    "lpips": (0.7237, 0.2572, 0.0508, 0.0521, 0.4253),
    "dists": (0.4742, 0.1424, 0.0682, 0.0287, 0.3123),
    "musiq": (12.477, 75.776, 73.745, 75.460, 38.02),
}

needs_calibra = pytest.mark.skipif(not CALIBRA.is_dir(), reason=f"pyiqa calibration images not found at {CALIBRA}")


def load(path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]


def pair(name, crop=None):
    ref, dist = load(CALIBRA / "ref_dir" / f"{name}.bmp"), load(CALIBRA / "dist_dir" / f"{name}.bmp")
    if crop:
        (y, x, h, w) = crop
        ref, dist = ref[..., y:y + h, x:x + w], dist[..., y:y + h, x:x + w]
    return ref, dist


@pytest.fixture(scope="module")
def metrics():
    return {"lpips": LPIPSAlex("cpu"), "lpips-vgg": LPIPSVGG("cpu"), "dists": DISTS("cpu")}


@pytest.fixture(scope="module")
def local_noise():
    """A 96x128 natural crop with strong noise in its left 48 columns only, and a soft ROI mask there."""
    ref, _ = pair("I04", crop=(120, 200, 96, 128))
    g = torch.Generator().manual_seed(0)
    dist = ref.clone()
    dist[..., :48] = (dist[..., :48] + 0.2 * torch.randn(dist[..., :48].shape, generator=g)).clamp(0, 1)
    dist = (dist * 255).round() / 255
    ramp = torch.clamp(torch.linspace(1.5, -0.5, 128), 0, 1)     # 1 on the left, soft edge, 0 on the right
    mask = ramp.expand(1, 1, 96, 128).contiguous()
    return ref, dist, mask


@needs_calibra
@pytest.mark.slow
@pytest.mark.parametrize("name", ["lpips", "dists"])
def test_published_calibration_values(metrics, name):
    got = [float(metrics[name](*pair(p))) for p in PAIRS]
    assert got == pytest.approx(PUBLISHED[name], abs=1e-4), got


@needs_calibra
@pytest.mark.parametrize("name", ["lpips", "lpips-vgg", "dists"])
def test_identical_images_score_zero(metrics, name):
    ref, _ = pair("I19", crop=(0, 0, 64, 96))
    assert abs(float(metrics[name](ref, ref.clone()))) < 1e-6


@needs_calibra
@pytest.mark.parametrize("trunk,cls", [("alex", LPIPSAlex), ("vgg", LPIPSVGG)])
def test_lpips_agrees_with_the_lpips_library(metrics, monkeypatch, trunk, cls):
    import lpips
    import torchvision
    # the library builds its trunk from torchvision (download) and reads its own v0.1 lin file;
    # hand it the verified torchvision weights instead of the download
    sd = W.load_state_dict(W.resolve(cls.weights[0]))
    build = {"alex": torchvision.models.alexnet, "vgg": torchvision.models.vgg16}[trunk]

    def pretrained(*args, **kwargs):
        net = build(weights=None)
        net.features.load_state_dict({k.removeprefix("features."): v for k, v in sd.items()})
        return net
    monkeypatch.setattr(lpips.pretrained_networks.tv, {"alex": "alexnet", "vgg": "vgg16"}[trunk], pretrained)
    reference = lpips.LPIPS(net=trunk, version="0.1", verbose=False).eval()
    r1, d1 = pair("I03", crop=(100, 100, 96, 128))
    r2, d2 = pair("I08", crop=(40, 300, 96, 128))
    ref, dist = torch.cat([r1, r2]), torch.cat([d1, d2])
    with torch.no_grad():
        expected = reference(ref, dist, normalize=True).reshape(-1)
    got = metrics[cls.name](ref, dist)
    assert got.shape == (2,)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@needs_calibra
def test_dists_agrees_with_dists_pytorch(metrics, monkeypatch):
    import DISTS_pytorch.DISTS_pt as dp
    import torchvision
    sd = W.load_state_dict(W.resolve("vgg16"))
    build = torchvision.models.vgg16     # dp.models is torchvision.models: keep the original

    def vgg16(*args, **kwargs):
        net = build(weights=None)
        net.features.load_state_dict({k.removeprefix("features."): v for k, v in sd.items()})
        return net
    monkeypatch.setattr(dp.models, "vgg16", vgg16)
    reference = dp.DISTS(load_weights=False)
    ab = read("torch-state", W.expand("pkg:DISTS_pytorch/weights.pt"))   # the library's own file
    reference.alpha.data, reference.beta.data = ab["alpha"], ab["beta"]
    r1, d1 = pair("I06", crop=(50, 50, 96, 128))
    r2, d2 = pair("I19", crop=(200, 300, 96, 128))
    ref, dist = torch.cat([r1, r2]), torch.cat([d1, d2])
    expected = reference.eval()(ref, dist).reshape(-1)
    torch.testing.assert_close(metrics["dists"](ref, dist), expected, atol=1e-5, rtol=0)


@needs_calibra
@pytest.mark.parametrize("name", ["lpips", "lpips-vgg", "dists"])
def test_all_ones_mask_gives_the_unmasked_value(metrics, local_noise, name):
    ref, dist, _ = local_noise
    ones = torch.ones_like(ref[:, :1])
    full, masked = float(metrics[name](ref, dist)), float(metrics[name](ref, dist, ones))
    assert masked == pytest.approx(full, rel=1e-6, abs=1e-7)


@needs_calibra
def test_all_ones_mask_gives_the_unmasked_psnr(local_noise):
    ref, dist, _ = local_noise
    psnr = PSNR()
    assert float(psnr(ref, dist, torch.ones_like(ref[:, :1]))) == pytest.approx(float(psnr(ref, dist)), abs=1e-12)


@needs_calibra
@pytest.mark.parametrize("name", ["lpips", "lpips-vgg", "mse"])
def test_roi_and_background_bracket_the_full_value(metrics, local_noise, name):
    ref, dist, mask = local_noise
    fn = (lambda r, d, m=None: masked_mse_255(r, d, m)) if name == "mse" else metrics[name]
    full, roi, bg = (float(fn(ref, dist, m)) for m in (None, mask, 1 - mask))
    area = float(mask.mean())
    assert roi > full > bg          # the noise is inside the ROI
    assert area * roi + (1 - area) * bg == pytest.approx(full, rel=1e-5)


@needs_calibra
def test_masked_dists_is_labelled_and_localises(metrics, local_noise):
    ref, dist, mask = local_noise
    roi, bg = float(metrics["dists"](ref, dist, mask)), float(metrics["dists"](ref, dist, 1 - mask))
    assert roi > bg
    assert "NON-STANDARD" in DISTS.mask_note


@needs_calibra
@pytest.mark.parametrize("name", ["lpips", "dists"])
def test_bad_masks_are_clear_errors(metrics, local_noise, name):
    ref, dist, mask = local_noise
    with pytest.raises(BenchError, match="does not fit"):
        metrics[name](ref, dist, mask[..., :64])
    with pytest.raises(BenchError, match="all zero"):
        metrics[name](ref, dist, torch.zeros_like(mask))
    with pytest.raises(BenchError, match=r"\[0, 1\]"):
        metrics[name](ref, dist, mask * 2)


@needs_calibra
@pytest.mark.parametrize("name", ["lpips", "dists"])
def test_batch_equals_single_images(metrics, name):
    r1, d1 = pair("I03", crop=(0, 0, 64, 64))
    r2, d2 = pair("I19", crop=(64, 64, 64, 64))
    batched = metrics[name](torch.cat([r1, r2]), torch.cat([d1, d2]))
    singles = torch.cat([metrics[name](r1, d1), metrics[name](r2, d2)])
    torch.testing.assert_close(batched, singles, atol=1e-6, rtol=1e-5)


# --- no-reference metrics ----------------------------------------------------------------

def _standin_musiq(path: Path) -> None:
    from pyiqa.archs.musiq_arch import MUSIQ as Arch
    torch.manual_seed(0)
    torch.save(Arch(pretrained=False, num_class=1).state_dict(), path)


def _standin_clip(path: Path) -> None:
    """A small CLIP with RN50's layout (ModifiedResNet + text transformer), random weights, saved
    like OpenAI's RN50.pt as a TorchScript archive (pyiqa's loader reads its state dict)."""
    from pyiqa.archs.clip_model import CLIP
    torch.manual_seed(0)
    model = CLIP(embed_dim=64, image_resolution=224, vision_layers=(1, 1, 1, 1), vision_width=32,
                 vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=64,
                 transformer_heads=1, transformer_layers=1)

    class Holder(torch.nn.Module):    # carries CLIP's modules and parameters under the same names
        def __init__(self):
            super().__init__()
            for n, child in model.named_children():
                setattr(self, n, child)
            for n, p in model.named_parameters(recurse=False):
                setattr(self, n, p)

        def forward(self, x):
            return x * self.logit_scale
    torch.jit.save(torch.jit.trace(Holder(), torch.ones(1)), str(path))


@pytest.mark.parametrize("name,make", [("musiq", _standin_musiq), ("clipiqa", _standin_clip)])
def test_no_reference_code_path_with_standin_backbone(tmp_path, name, make):
    """Real loading and scoring code, with a random stand-in backbone handed in explicitly."""
    from bench.metrics.base import get_metric_class
    cls = get_metric_class(name)
    path = tmp_path / "standin.pth"
    make(path)
    with pytest.raises(BenchError, match="sha256"):      # the resolver never accepts a stand-in
        W.resolve(cls.weights_name, path=path)
    metric = cls("cpu", network=cls.build_network(path))
    ref = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    scores = metric(ref, ref.flip(-1))
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    if name == "clipiqa":      # an average of softmax probabilities
        assert ((scores >= 0) & (scores <= 1)).all()
    assert not cls.supports_mask and "not defined" in cls.mask_note


@pytest.mark.parametrize("name", ["musiq", "clipiqa"])
def test_no_reference_metrics_with_real_weights(name):
    from bench.metrics.base import get_metric_class
    cls = get_metric_class(name)
    reason = cls.unavailable()
    if reason:
        print(f"\n{name}: skipped: {reason}")
        pytest.skip(reason)
    if not CALIBRA.is_dir():
        pytest.skip("pyiqa calibration images missing")
    metric = cls("cpu")
    if name == "musiq":
        got = [float(metric(None, pair(p)[1])) for p in PAIRS]
        assert got == pytest.approx(PUBLISHED["musiq"], abs=0.1)
    else:
        ref, _ = pair("I04")
        blurred = torch.nn.functional.avg_pool2d(ref, 9, stride=1, padding=4)
        clean, blur = float(metric(None, ref)), float(metric(None, blurred))
        assert 0 <= blur < clean <= 1


@pytest.mark.parametrize("cls", [LPIPSAlex, DISTS])
def test_regions_of_one_pair_reuse_the_network_pass_and_a_new_pair_does_not(local_noise, cls):
    ref, dist, mask = local_noise
    metric, fresh = cls("cpu"), cls("cpu")
    trunk = metric.model.net if cls is LPIPSAlex else metric.net.stages[0]
    passes = []
    trunk.register_forward_hook(lambda *_: passes.append(1))
    values = [float(metric(ref, dist, m)) for m in (None, mask, 1 - mask)]
    assert len(passes) == 2                                   # reference and distorted, once each
    assert values == [float(fresh(ref, dist, m)) for m in (None, mask, 1 - mask)]
    other = ref.flip(-1)                                      # a new pair must not get the old features
    assert float(metric(ref, other)) == pytest.approx(float(fresh(ref, other)), abs=1e-7)
