"""VTM and BPG adapters: command lines, log parsing, raw-file layout, binary discovery; real runs
only where the user-provided binaries are installed (skipped with the reason otherwise)."""

from __future__ import annotations

import hashlib
import importlib
import re
import stat

import numpy as np
import pytest

from bench.codec import CODECS, make_codec
from bench.errors import BenchError, CodecError
from bench.image import load_rgb

from .conftest import kodak_or_skip, run_cli

PAPER_FLAGS = [  # Appendix E of the ROI-diffusion paper (shared/papers/region-adaptive-diffusion-codec.txt)
    "--InputBitDepth=8", "--OutputBitDepth=8", "--OutputBitDepthC=8", "--InputChromaFormat=444",
    "--FrameRate=1", "--FramesToBeEncoded=1", "--ConformanceWindowMode=1",
    "--InputColourSpaceConvert=RGBtoGBR", "--SNRInternalColourSpace=1", "--OutputInternalColourSpace=0"]


def plugin(name):
    CODECS.load_all()
    return importlib.import_module(f"bench._plugins.codecs.{name}")


@pytest.fixture
def no_binaries(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BENCH_VTM_DIR", raising=False)
    monkeypatch.delenv("BENCH_BPG_DIR", raising=False)


def test_vtm_encoder_command_is_the_papers():
    vtm = plugin("vtm")
    cmd = vtm.VTM().encoder_command("/opt/vtm/EncoderAppStatic", "in.rgb", "out.bin", 768, 512, 37)
    assert cmd[:3] == ["/opt/vtm/EncoderAppStatic", "-c", str(vtm.CONFIG)]
    assert set(PAPER_FLAGS) <= set(cmd)
    assert {"--InputFile=in.rgb", "--BitstreamFile=out.bin", "--SourceWidth=768", "--SourceHeight=512",
            "--QP=37"} <= set(cmd)
    assert not any(c.startswith("--ReconFile") for c in cmd)
    dec = vtm.VTM().decoder_command("DecoderApp", "in.bin", "out.rgb")
    assert dec == ["DecoderApp", "-b", "in.bin", "-o", "out.rgb", "-d", "8", "--OutputColourSpaceConvert=GBRtoRGB"]


def test_shipped_intra_config_is_vtm_22_2s_file():
    vtm = plugin("vtm")
    # sha256 of `git show VTM-22.2:cfg/encoder_intra_vtm.cfg` (tag commit 6332d4d3, blob afef93ff)
    assert hashlib.sha256(vtm.CONFIG.read_bytes()).hexdigest() == vtm.CONFIG_SHA256 == (
        "5647353c1d7a5a64c4180afee1f7f5f902ada9198c08839baa972395a3dc1e34")
    text = vtm.CONFIG.read_text()
    pairs = [re.split(r"\s*:\s*", line.split("#")[0].strip(), maxsplit=1)
             for line in text.splitlines() if line.split("#")[0].strip()]
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys))
    cfg = dict(pairs)
    assert (cfg["IntraPeriod"], cfg["GOPSize"], cfg["InternalBitDepth"], cfg["CTUSize"]) == ("1", "1", "10", "128")
    # the deblocking offsets that the adapter's earlier hand-written file had at 0
    for part in ("", "Cb", "Cr"):
        assert (cfg[f"DeblockingFilter{part}BetaOffset_div2"], cfg[f"DeblockingFilter{part}TcOffset_div2"]) == ("-2", "-5")
    assert "BSD" in (vtm.CONFIG.parent / "COPYING.VTM").read_text()     # the licence it ships under


def fake_vtm(root, version: str, cfg: bytes | None = None, header_version: str | None = None):
    """A VTM tree: bin/ with EncoderApp/DecoderApp that print the banner, optionally cfg/ and version.h."""
    (root / "bin").mkdir(parents=True)
    for name in ("EncoderApp", "DecoderApp"):
        exe = root / "bin" / name
        exe.write_text(f"#!/bin/sh\necho\necho 'VVCSoftware: VTM Encoder Version {version} [Linux][GCC 12.2.0][64 bit] '\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    if cfg is not None:
        (root / "cfg").mkdir()
        (root / "cfg" / "encoder_intra_vtm.cfg").write_bytes(cfg)
    if header_version:
        (root / "source" / "Lib" / "CommonLib").mkdir(parents=True)
        (root / "source" / "Lib" / "CommonLib" / "version.h").write_text(
            f'#if ! defined( VTM_VERSION )\n#define VTM_VERSION "{header_version}"\n#endif\n')
    return root


def test_vtm_codes_with_its_own_trees_configuration(no_binaries, tmp_path):
    vendored = plugin("vtm").CONFIG.read_bytes()
    bare = make_codec(f"vtm:dir={fake_vtm(tmp_path / 'a', '22.2')}")
    assert bare.config_file(bare.binaries()[0]) == plugin("vtm").CONFIG
    assert bare.describe()["config"] == {"file": "vendored VTM-22.2 cfg/encoder_intra_vtm.cfg",
                                         "vtm_version": "22.2", "sha256": plugin("vtm").CONFIG_SHA256}
    assert bare.warnings() == []
    # a 23.0 tree whose cfg differs: it is used, its version is read from version.h, the key changes
    other = vendored.replace(b"DeblockingFilterTcOffset_div2       : -5", b"DeblockingFilterTcOffset_div2       : -4")
    assert other != vendored
    tree = make_codec(f"vtm:dir={fake_vtm(tmp_path / 'b', '23.0', other, '23.0')}")
    assert tree.config_file(tree.binaries()[0]) == tmp_path / "b" / "cfg" / "encoder_intra_vtm.cfg"
    info = tree.describe()["config"]
    assert info["vtm_version"] == "23.0" and info["sha256"] == hashlib.sha256(other).hexdigest()
    assert tree.config_hash() != bare.config_hash() and tree.warnings() == []
    # cfg=PATH wins over the tree's file; the same bytes give the same key wherever they lie
    copy = tmp_path / "copy.cfg"
    copy.write_bytes(vendored)
    explicit = make_codec(f"vtm:dir={tmp_path / 'b'},cfg={copy}")
    assert explicit.encoder_command(explicit.binaries()[0], "i", "o", 8, 8, 30)[2] == str(copy)
    assert explicit.describe()["config"]["sha256"] == plugin("vtm").CONFIG_SHA256
    with pytest.raises(BenchError, match="configuration file .*nope.cfg not found; fix cfg=PATH"):
        make_codec(f"vtm:dir={tmp_path / 'b'},cfg={tmp_path / 'nope.cfg'}")


def test_a_binary_and_configuration_of_different_versions_get_one_warning(no_binaries, tmp_path, env,
                                                                          image_folder):
    codec = make_codec(f"vtm:dir={fake_vtm(tmp_path / 'v', '23.1')}")
    (line,) = codec.warnings()
    assert line == ("vtm: EncoderApp is VTM 23.1 but the configuration (vendored VTM-22.2 "
                    "cfg/encoder_intra_vtm.cfg) is VTM 22.2's; pass cfg=PATH to VTM 23.1's "
                    "cfg/encoder_intra_vtm.cfg to code as it does")
    # a run says it once, up front (the fake encoder then fails every job)
    res = run_cli(["run", "--codecs", f"vtm:dir={tmp_path / 'v'}", "--rates", "30", "--dataset", str(image_folder),
                   "--metrics", "psnr", "--out", str(tmp_path / "o"), "--workers", "0"], {**env, "COLUMNS": "400"})
    assert res.returncode == 1
    assert " ".join(res.stderr.split()).count("warning: vtm: EncoderApp is VTM 23.1 but the configuration") == 1


def test_vtm_log_parsing():
    # one line in the layout of VTM's EncGOP picture summary printf
    line = ("POC    0 LId:  0 TId: 0 ( IDR_N_LP, I-SLICE, QP 37 )      98712 bits "
            "[Y 31.4567 dB    U 33.1234 dB    V 32.9876 dB] [ET     4 ] [L0 ] [L1 ]")
    (frame,) = plugin("vtm").parse_encoder_log("VVCSoftware: VTM Encoder Version 22.2\n" + line + "\n\n")
    assert frame == {"poc": 0, "qp": 37, "bits": 98712, "psnr_y": 31.4567, "psnr_u": 33.1234, "psnr_v": 32.9876}
    assert plugin("vtm").parse_encoder_log("error: cannot open file") == []


def test_vtm_raw_files_are_planar_rgb():
    vtm = plugin("vtm")
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    raw = vtm.planar_rgb(img)
    assert raw[:6] == bytes(img[..., 0].ravel())                 # the R plane first
    assert (vtm.from_planar_rgb(raw, 3, 2) == img).all()
    with pytest.raises(CodecError, match="expected 18"):
        vtm.from_planar_rgb(raw[:-1], 3, 2)


def test_picture_size_is_read_from_a_vvc_stream():
    # the size VTM's decode path uses comes from the stream's parameter sets (here a VVenC stream)
    img = np.random.default_rng(0).integers(0, 255, (100, 150, 3), dtype=np.uint8)
    data = make_codec("vvc:preset=faster").encode(img, 40)
    assert plugin("_video").annexb_size(data, "vvc") == (150, 100)


def test_missing_binaries_make_a_clear_unavailable_reason(no_binaries):
    codecs = CODECS.load_all()
    assert codecs["vtm"].unavailable().startswith("EncoderAppStatic not found on PATH; set BENCH_VTM_DIR")
    assert codecs["bpg"].unavailable().startswith("bpgenc not found on PATH; set BENCH_BPG_DIR")
    with pytest.raises(BenchError, match="codec 'vtm' is not available here: EncoderAppStatic not found"):
        make_codec("vtm")


def test_binaries_are_found_through_the_env_folder(no_binaries, tmp_path, monkeypatch):
    folder = tmp_path / "vtm" / "bin"
    folder.mkdir(parents=True)
    for name in ("EncoderApp", "DecoderApp"):
        exe = folder / name
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("BENCH_VTM_DIR", str(tmp_path / "vtm"))
    vtm = plugin("vtm").VTM
    assert vtm.unavailable() is None
    assert vtm().binaries() == (str(folder / "EncoderApp"), str(folder / "DecoderApp"))


def test_bench_list_codecs_says_not_available(env, tmp_path):
    env = {k: v for k, v in env.items() if k not in ("BENCH_VTM_DIR", "BENCH_BPG_DIR")}
    env["PATH"] = str(tmp_path)                    # an empty PATH: no user binaries
    proc = run_cli(["list", "codecs"], env)
    assert proc.returncode == 0, proc.stderr
    flat = " ".join(proc.stdout.split())
    assert "not available: EncoderAppStatic not found on PATH" in flat
    assert "not available: bpgenc not found on PATH" in flat


def test_bpg_commands():
    bpg = plugin("bpg").BPG()
    assert bpg.encoder_command("bpgenc", "in.png", "out.bpg", 30) == [
        "bpgenc", "-q", "30", "-f", "444", "-b", "8", "-e", "x265", "-m", "8", "-o", "out.bpg", "in.png"]
    assert bpg.decoder_command("bpgdec", "in.bpg", "out.png") == ["bpgdec", "-o", "out.png", "in.bpg"]


def real_run(name):
    cls = CODECS.load(name)
    reason = cls.unavailable()
    if reason:
        pytest.skip(f"{name} binaries not installed: {reason}")
    img = load_rgb(kodak_or_skip() / "kodim23.png")[:128, :192].copy()
    codec = make_codec(name)
    low, high = (make_codec(name).encode(img, qp) for qp in (42, 27))
    recs = [codec.decode(d) for d in (low, high)]
    assert all(r.shape == img.shape and r.dtype == np.uint8 for r in recs)
    assert len(low) < len(high)
    err = [np.mean((img.astype(float) - r) ** 2) for r in recs]
    assert err[1] < err[0] and 10 * np.log10(255 ** 2 / err[0]) > 22
    return low


def test_vtm_real_run():
    data = real_run("vtm")
    assert data[:4] == b"\x00\x00\x00\x01"


def test_bpg_real_run():
    data = real_run("bpg")
    assert data[:4] == b"BPG\xfb"


def test_a_dir_option_makes_the_codec_available(no_binaries, tmp_path):
    folder = tmp_path / "opt-bpg"
    folder.mkdir()
    for name in ("bpgenc", "bpgdec"):
        exe = folder / name
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(BenchError, match="bpgenc not found"):
        make_codec("bpg")
    codec = make_codec(f"bpg:dir={folder}")
    assert codec.binaries() == (str(folder / "bpgenc"), str(folder / "bpgdec"))
    assert "dir" not in codec.options                  # where the binary lives is not part of the cache key
