"""The cache key follows exactly what can change a result."""

from __future__ import annotations

from bench.codec import make_codec
from bench.datasets.images import ImageItem
from bench.datasets.resolve import Dataset
from bench.masks.pairing import MaskRef
from bench.pipeline.plan import plan_jobs


def keys(spec, rates=(50,), image_hash="a" * 64, path="/x/img.png", masks=None):
    ds = Dataset("d", None, [ImageItem("img", path, image_hash, 10, 10)])
    return [j.key for j in plan_jobs(ds, {spec: make_codec(spec)}, list(rates), [], masks)]


def test_same_inputs_same_key_and_path_does_not_matter():
    assert keys("jpeg") == keys("jpeg") == keys("jpeg", path="/elsewhere/img.png")


def test_key_changes_with_codec_config():
    base = keys("jpeg")
    assert keys("jpeg:optimize=false") != base          # an encoder option
    assert keys("jpeg-444") != base                     # a variant with other fixed settings
    assert keys("webp") != base


def test_key_changes_with_rate_image_and_mask():
    base = keys("jpeg")
    assert keys("jpeg", rates=(51,)) != base
    assert keys("jpeg", image_hash="b" * 64) != base
    m1 = ("set", {"img": MaskRef("set", "/m/img.png", "1" * 64)})
    m2 = ("set", {"img": MaskRef("set", "/m/img.png", "2" * 64)})
    assert keys("jpeg", masks=m1) != base and keys("jpeg", masks=m1) != keys("jpeg", masks=m2)


def test_describe_records_versions_and_options():
    d = make_codec("jpeg:optimize=false").describe()
    assert d["options"] == {"optimize": False} and "pillow" in d["versions"]
    assert d["settings"]["subsampling"] == "4:2:0"
