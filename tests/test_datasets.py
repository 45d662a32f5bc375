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


# --- CLIC 2020 manifests, several archives per source, per-image hash records (issue 14) ---

def test_clic2020_manifests_have_the_right_counts_and_archives():
    ms = load_manifests()
    counts = {n: ms[n].image_count for n in ("clic2020-professional-test", "clic2020-mobile-test", "clic2020-test")}
    assert counts == {"clic2020-professional-test": 250, "clic2020-mobile-test": 178, "clic2020-test": 428}
    pro, mob, both = (ms[n].archives for n in ("clic2020-professional-test", "clic2020-mobile-test", "clic2020-test"))
    assert [a["url"] for a in pro] == ["https://data.vision.ee.ethz.ch/cvl/clic/test/CLIC2020Professional_test.zip"]
    assert [a["url"] for a in mob] == ["https://data.vision.ee.ethz.ch/cvl/clic/test/CLIC2020Mobile_test.zip"]
    assert both == pro + mob                    # the 428 set is exactly the two archives, same hashes
    for name in ("clic2020-test", "div2k-valid-hr"):
        assert all(len(a["sha256"]) == 64 for a in ms[name].archives)


def _zip_of(images: dict[str, np.ndarray], junk: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in images.items():
            png = io.BytesIO()
            Image.fromarray(arr).save(png, format="PNG")
            zf.writestr(name, png.getvalue())
            if junk:    # macOS resource forks: not images, must not be extracted or counted
                zf.writestr(f"__MACOSX/{Path(name).parent}/._{Path(name).name}", b"\0\5\26\7")
    return buf.getvalue()


def _toy_images(n: int, start: int = 0, folder: str = "set/") -> dict[str, np.ndarray]:
    return {f"{folder}{i:04d}.png": np.full((6, 5, 3), 30 * i + 1, np.uint8) for i in range(start, start + n)}


def _archive_manifest(name: str, archives: list[dict], count: int):
    from bench.datasets.manifest import Manifest
    source = {"kind": "archive", "archives": archives} if len(archives) > 1 else {"kind": "archive", **archives[0]}
    return Manifest(name=name, title=name, license="", homepage="", image_count=count, source=source)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def _use_manifests(monkeypatch, *manifests):
    import bench.datasets
    import bench.datasets.resolve
    table = {m.name: m for m in manifests}
    monkeypatch.setattr(bench.datasets.resolve, "load_manifests", lambda: table)
    monkeypatch.setattr(bench.datasets, "load_manifests", lambda: table)


def test_first_download_records_pixel_hashes_and_says_unverified(server, isolated, monkeypatch):
    from bench.datasets.download import PIXEL_RECORD, read_pixel_record
    www, url = server
    imgs = _toy_images(3)
    (www / "toy.zip").write_bytes(_zip_of(imgs))
    m = _archive_manifest("toy", [{"url": url + "toy.zip", "sha256": "", "member_prefix": "set/"}], 3)
    notices: list[str] = []
    root = isolated / "toy"
    assert download_dataset(m, root, notice=notices.append) == []
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == [
        "0000.png", "0001.png", "0002.png", PIXEL_RECORD, "SOURCE_SHA256"]
    hashes, status = read_pixel_record(root)
    assert hashes == {Path(n).name: pixel_sha256(a) for n, a in imgs.items()}
    assert status == "unverified (first download)"
    assert sum("unverified (first download)" in line for line in notices) == 2     # archive + images
    assert any(str(root / PIXEL_RECORD) in line for line in notices)               # says where they are

    _use_manifests(monkeypatch, m)
    ds = resolve_dataset("toy")
    assert len(ds.images) == 3 and ds.skipped == [] and ds.hash_status == "unverified (first download)"

    arr = load_rgb(root / "0001.png")
    arr[2, 2] ^= 1
    Image.fromarray(arr).save(root / "0001.png")
    with pytest.raises(BenchError) as err:
        resolve_dataset("toy")
    msg = str(err.value)
    assert "\n" not in msg and "0001.png" in msg and "changed since its first download" in msg
    assert "bench datasets download toy" in msg

    # the fix the message names works: delete the file, download again (re-extracted, re-checked)
    (root / "0001.png").unlink()
    again: list[str] = []
    assert download_dataset(m, root, notice=again.append) == []
    assert any("match" in line and "unverified (first download)" in line for line in again)
    assert len(resolve_dataset("toy").images) == 3


def test_changed_file_is_one_line_on_the_cli(server, isolated, monkeypatch, capsys):
    import sys

    from bench.cli import main
    www, url = server
    (www / "toy.zip").write_bytes(_zip_of(_toy_images(2)))
    m = _archive_manifest("toy", [{"url": url + "toy.zip", "sha256": "", "member_prefix": "set/"}], 2)
    _use_manifests(monkeypatch, m)
    monkeypatch.setattr(sys, "argv", ["bench", "datasets", "download", "toy"])
    with pytest.raises(SystemExit) as ex:
        main()
    out = capsys.readouterr()
    assert ex.value.code == 0 and "unverified (first download)" in out.err
    Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(isolated / "toy" / "0000.png")
    monkeypatch.setattr(sys, "argv", ["bench", "datasets", "verify", "toy"])
    with pytest.raises(SystemExit) as ex:
        main()
    err = capsys.readouterr().err.strip()
    assert ex.value.code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "0000.png" in err and "re-download" in err


def test_several_archives_in_one_source_and_published_sha256(server, isolated, monkeypatch):
    www, url = server
    pro, mob = _toy_images(2, folder="professional/"), _toy_images(3, start=2, folder="mobile/")
    blobs = {"pro.zip": _zip_of(pro), "mob.zip": _zip_of(mob)}
    for name, blob in blobs.items():
        (www / name).write_bytes(blob)
    archives = [{"url": url + n, "sha256": hashlib.sha256(b).hexdigest(), "sha256_source": "the test",
                 "member_prefix": ""} for n, b in blobs.items()]
    m = _archive_manifest("both", archives, 5)
    notices: list[str] = []
    root = isolated / "both"
    assert download_dataset(m, root, notice=notices.append) == []
    assert sorted(p.name for p in root.glob("*.png")) == [f"{i:04d}.png" for i in range(5)]
    assert not (root / "SOURCE_SHA256").exists()                       # published: nothing to record
    assert any("verified (archive sha256 published by the test)" in line for line in notices)
    assert not any("unverified" in line for line in notices)
    _use_manifests(monkeypatch, m)
    assert resolve_dataset("both").hash_status == "verified (archive sha256 published by the test)"

    bad = _archive_manifest("bad", [archives[0], {**archives[1], "sha256": "0" * 64}], 5)
    problems = download_dataset(bad, isolated / "bad")
    assert len(problems) == 1 and problems[0].startswith("mob.zip: sha256") and "published by the test" in problems[0]
    short = _archive_manifest("short", archives[:1], 5)                 # one archive missing: wrong count
    assert download_dataset(short, isolated / "short") == ["archive holds 2 images, manifest expects 5"]


def test_hand_filled_folder_is_counted_then_recorded_at_first_use(isolated, monkeypatch):
    from bench.datasets.download import read_pixel_record
    m = _archive_manifest("toy", [{"url": "http://unused/toy.zip", "sha256": ""}], 3)
    _use_manifests(monkeypatch, m)
    root = isolated / "toy"
    root.mkdir(parents=True)
    for name, arr in _toy_images(2, folder="").items():
        Image.fromarray(arr).save(root / name)
    with pytest.raises(BenchError, match=r"holds 2 images, its manifest expects 3.*bench datasets download toy"):
        resolve_dataset("toy")
    assert read_pixel_record(root) is None
    Image.fromarray(np.full((6, 5, 3), 99, np.uint8)).save(root / "0002.png")
    ds = resolve_dataset("toy")
    assert len(ds.images) == 3 and ds.hash_status.startswith("unverified (recorded at first use")
    assert set(read_pixel_record(root)[0]) == {"0000.png", "0001.png", "0002.png"}
    (root / "0002.png").unlink()
    with pytest.raises(BenchError, match="1 image.*missing or unreadable.*0002.png"):
        resolve_dataset("toy")


def test_archive_manifest_without_url_is_one_clear_line(tmp_path):
    from bench.datasets.manifest import load_manifest
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[source]\nkind = "archive"\n[[source.archives]]\nsha256 = ""\n')
    with pytest.raises(BenchError, match=r"archive 1 has no url; give each \[\[source.archives\]\] entry a url"):
        load_manifest(bad)
