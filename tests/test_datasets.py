"""Datasets: Kodak recognised by pixel hash, named lookup under BENCH_DATA, the embedded
default, and the resumable, verified downloader (against a local HTTP server)."""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.datasets import load_manifests, resolve_dataset
from bench.datasets.download import download_dataset, fetch
from bench.errors import BenchError
from bench.image import load_rgb, pixel_sha256


def test_kodak_folder_is_recognised_by_pixel_hash(kodak, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "some_folder_name"
    copy.mkdir()
    for p in sorted(kodak.glob("kodim*.png")):
        # re-encode: different file bytes, same pixels
        Image.open(p).save(copy / p.name, compress_level=1)
    ds = resolve_dataset(str(copy))
    assert ds.name == "kodak" and len(ds.images) == 24
    manifest = load_manifests()["kodak"]
    assert {i.pixel_hash for i in ds.images} == set(manifest.pixel_hashes.values())


def test_named_kodak_under_bench_data_and_pixel_check(kodak, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data" / "kodak"
    shutil.copytree(kodak, root, ignore=shutil.ignore_patterns("*.txt", "*.md"))
    arr = load_rgb(root / "kodim05.png")
    arr[0, 0] ^= 1                                       # one changed pixel
    Image.fromarray(arr).save(root / "kodim05.png")
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    ds = resolve_dataset("kodak")
    assert ds.name == "kodak" and len(ds.images) == 23
    assert len(ds.skipped) == 1 and "kodim05" in ds.skipped[0][0] and "pixels differ" in ds.skipped[0][1]


def test_embedded_default_needs_no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "nothing-here"))
    ds = resolve_dataset(None)
    assert ds.name == "skimage-photos"
    assert sorted(i.name for i in ds.images) == ["astronaut", "chelsea", "coffee", "rocket"]
    assert all(min(i.height, i.width) >= 161 for i in ds.images)     # MS-SSIM needs 161 px


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (the standard handler has none)."""
    requests_seen: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        type(self).requests_seen.append((self.path, rng))
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **kw: _RangeHandler(*a, directory=str(root), **kw)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _RangeHandler.requests_seen = []
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_fetch_resumes_a_partial_download(server, tmp_path):
    root, url = server
    payload = np.random.default_rng(0).bytes(300_000)
    (root / "blob.bin").write_bytes(payload)
    target = tmp_path / "dl" / "blob.bin"
    target.parent.mkdir()
    (target.parent / "blob.bin.part").write_bytes(payload[:123_456])       # an interrupted earlier try
    fetch(url + "blob.bin", target)
    assert target.read_bytes() == payload and not (target.parent / "blob.bin.part").exists()
    assert _RangeHandler.requests_seen[-1] == ("/blob.bin", "bytes=123456-")


def _manifest_files(url, hashes):
    from bench.datasets.manifest import Manifest
    return Manifest(name="toy", title="toy", license="", homepage="", image_count=len(hashes),
                    source={"kind": "files", "base_url": url}, pixel_hashes=hashes, files=list(hashes))


def test_download_files_verifies_pixel_hashes(server, tmp_path):
    root, url = server
    imgs = {f"im{i}.png": np.full((8, 8, 3), 40 * i, np.uint8) for i in range(3)}
    for name, arr in imgs.items():
        Image.fromarray(arr).save(root / name)
    good = {n: pixel_sha256(a) for n, a in imgs.items()}
    assert download_dataset(_manifest_files(url, good), tmp_path / "ok") == []
    bad = {**good, "im1.png": "0" * 64}
    problems = download_dataset(_manifest_files(url, bad), tmp_path / "bad")
    assert problems == ["im1.png: pixel sha256 mismatch"]
    assert not (tmp_path / "bad" / "im1.png").exists()         # never mistaken for good data later


def test_download_archive_records_and_checks_sha256(server, tmp_path):
    from bench.datasets.manifest import Manifest
    root, url = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(2):
            png = io.BytesIO()
            Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(png, format="PNG")
            zf.writestr(f"Set_HR/{i:04d}.png", png.getvalue())
        zf.writestr("Set_HR/readme.txt", "not an image")
    (root / "set.zip").write_bytes(buf.getvalue())
    m = Manifest(name="toy", title="", license="", homepage="", image_count=2,
                 source={"kind": "archive", "url": url + "set.zip", "sha256": "", "member_prefix": "Set_HR/"},
                 files=["0000.png", "0001.png"])
    target = tmp_path / "toy"
    assert download_dataset(m, target) == []
    assert sorted(p.name for p in target.glob("*.png")) == ["0000.png", "0001.png"]
    assert (target / "SOURCE_SHA256").read_text().split()[0] == hashlib.sha256(buf.getvalue()).hexdigest()
    m.source["sha256"] = "f" * 64
    (target / ".download" / "set.zip").unlink()
    problems = download_dataset(m, target)
    assert len(problems) == 1 and "sha256" in problems[0] and "expected" in problems[0]


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(BenchError, match="cannot download"):
        fetch("http://127.0.0.1:9/nothing.zip", tmp_path / "x.zip", timeout=2)
