"""VTM, the VVC reference software, run the way the ROI-diffusion paper ran it (its Appendix E).

RGB goes in as planar 8-bit 4:4:4 with `--InputColourSpaceConvert=RGBtoGBR` (G is coded
as the luma channel), VTM's all-intra configuration, one frame, QP knob.

The configuration is the one of the VTM the binaries belong to: `cfg=PATH`, else the
`cfg/encoder_intra_vtm.cfg` of the VTM tree beside or above the encoder binary, else the
copy beside this file, which is byte for byte VTM-22.2's (the file the paper names; the
same bytes ship with every VTM from 16.0 to 23.13; see README.md here). Its sha256 is part
of describe() and so of the cache key; a binary whose version differs from the
configuration's gets a one-line warning.
The bitstream is the .bin file EncoderApp writes (it carries the picture size); decoding
runs DecoderApp with `--OutputColourSpaceConvert=GBRtoRGB` at 8-bit output.

(The paper's prose also mentions a BT.709 YCbCr conversion, but its command line codes
GBR directly; this adapter follows the command line.)

The binaries are user-provided: EncoderApp[Static] / DecoderApp[Static], looked up in the
folder of the option dir=FOLDER (`bench run --codecs vtm:dir=/opt/vtm`), then in
$BENCH_VTM_DIR (or its bin/), then on PATH.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

import numpy as np

from bench.codec import Codec, register_codec
from bench.errors import CodecError, CodecUnavailable

from .._tools import find_binary, missing_binary, not_found_message, run, version_line
from .._video import annexb_size

CONFIG_NAME = "encoder_intra_vtm.cfg"
CONFIG = Path(__file__).with_name(CONFIG_NAME)           # byte for byte VTM-22.2's cfg/encoder_intra_vtm.cfg
CONFIG_VERSION = "22.2"
CONFIG_SHA256 = "5647353c1d7a5a64c4180afee1f7f5f902ada9198c08839baa972395a3dc1e34"
TREE_DEPTH = 6           # folders above the binary searched for the tree's cfg/ (bin/umake/gcc-12/x86_64/release)
BANNER = r"VTM Encoder Version (\S+)"
VERSION_H = re.compile(r'#define\s+VTM_VERSION\s+"([^"]+)"')
ENCODERS = ("EncoderAppStatic", "EncoderApp")
DECODERS = ("DecoderAppStatic", "DecoderApp")
ENV_VAR = "BENCH_VTM_DIR"

# One line per coded picture, e.g.
# "POC    0 LId:  0 TId: 0 ( IDR_N_LP, I-SLICE, QP 37 )     123456 bits [Y 35.1234 dB    U ... ]"
FRAME_LINE = re.compile(r"POC\s+(?P<poc>\d+)\b.*?QP\s+(?P<qp>-?\d+)\s*\)\s+(?P<bits>\d+)\s+bits\s+"
                        r"\[Y\s+(?P<y>[\d.]+|inf|nan)\s+dB\s+U\s+(?P<u>[\d.]+|inf|nan)\s+dB\s+"
                        r"V\s+(?P<v>[\d.]+|inf|nan)\s+dB\]")


def parse_encoder_log(text: str) -> list[dict]:
    """EncoderApp's per-picture lines -> [{poc, qp, bits, psnr_y, psnr_u, psnr_v}].

    With --SNRInternalColourSpace=1 the three PSNRs are of the coded G, B, R planes.
    VTM's bit count leaves out SEI and start codes; the row's bpp uses the file size.
    """
    return [{"poc": int(m["poc"]), "qp": int(m["qp"]), "bits": int(m["bits"]),
             "psnr_y": float(m["y"]), "psnr_u": float(m["u"]), "psnr_v": float(m["v"])}
            for m in FRAME_LINE.finditer(text)]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_version(config: Path) -> str:
    """VTM_VERSION of the source tree a configuration file sits in (its source/Lib/CommonLib/version.h)."""
    for folder in list(config.resolve().parents)[:3]:
        header = folder / "source" / "Lib" / "CommonLib" / "version.h"
        if header.is_file():
            found = VERSION_H.search(header.read_text(errors="replace"))
            if found:
                return found.group(1)
    return "unknown"


def planar_rgb(image: np.ndarray) -> bytes:
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)).tobytes()


def from_planar_rgb(raw: bytes, width: int, height: int) -> np.ndarray:
    if len(raw) != 3 * width * height:
        raise CodecError(f"DecoderApp wrote {len(raw)} bytes, expected {3 * width * height} for "
                         f"8-bit 4:4:4 {width}x{height}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(3, height, width).transpose(1, 2, 0).copy()


@register_codec
class VTM(Codec):
    name = "vtm"
    rate_param = "qp"
    rate_range = (0, 63)
    rate_increases_bpp = False
    default_rates = (22, 27, 32, 37)        # the JVET common-test-condition QPs
    extension = "bin"
    description = "VVC reference encoder VTM (user-provided binaries), all-intra, 4:4:4 GBR, QP knob"

    def __init__(self, dir: str | None = None, cfg: str | None = None, config: str | None = None, **options):
        # `dir` and `cfg` only say where files are; what identifies results is the binary's
        # version and the configuration's sha256 (describe()), so neither path is an option
        super().__init__(**options)
        self.dir = dir
        self.cfg = Path(cfg or config) if (cfg or config) else None
        if self.cfg is not None and not self.cfg.is_file():
            raise CodecUnavailable(f"vtm: configuration file {self.cfg} not found; fix cfg=PATH")

    def config_file(self, encoder: str | None = None) -> Path:
        """cfg=PATH, else the encoder's VTM tree's cfg/encoder_intra_vtm.cfg, else the vendored copy."""
        if self.cfg is not None:
            return self.cfg
        if encoder:
            for folder in list(Path(encoder).resolve().parents)[:TREE_DEPTH]:
                for candidate in (folder / "cfg" / CONFIG_NAME, folder / CONFIG_NAME):
                    if candidate.is_file():
                        return candidate
        return CONFIG

    def config_info(self) -> dict:
        """Which configuration codes: its VTM version (vendored, or the tree's version.h), sha256, origin."""
        encoder = find_binary(ENCODERS, ENV_VAR, self.dir)
        path = self.config_file(encoder)
        if path == CONFIG:
            return {"file": f"vendored VTM-{CONFIG_VERSION} cfg/{CONFIG_NAME}", "vtm_version": CONFIG_VERSION,
                    "sha256": file_sha256(path)}
        return {"file": str(path), "vtm_version": tree_version(path), "sha256": file_sha256(path)}

    def binaries(self) -> tuple[str, str]:
        enc, dec = find_binary(ENCODERS, ENV_VAR, self.dir), find_binary(DECODERS, ENV_VAR, self.dir)
        if not enc or not dec:
            raise CodecUnavailable(f"vtm: {not_found_message(ENCODERS if not enc else DECODERS, ENV_VAR)}")
        return enc, dec

    def encoder_command(self, encoder: str, raw: str, bitstream: str, width: int, height: int, qp: int) -> list[str]:
        # Appendix E's command, less --ReconFile: the reconstruction comes from DecoderApp.
        return [encoder, "-c", str(self.config_file(encoder)), f"--InputFile={raw}", f"--BitstreamFile={bitstream}",
                f"--SourceWidth={width}", f"--SourceHeight={height}", "--InputBitDepth=8",
                "--OutputBitDepth=8", "--OutputBitDepthC=8", "--InputChromaFormat=444", "--FrameRate=1",
                "--FramesToBeEncoded=1", f"--QP={int(qp)}", "--ConformanceWindowMode=1",
                "--InputColourSpaceConvert=RGBtoGBR", "--SNRInternalColourSpace=1",
                "--OutputInternalColourSpace=0"]

    def decoder_command(self, decoder: str, bitstream: str, recon: str) -> list[str]:
        return [decoder, "-b", bitstream, "-o", recon, "-d", "8", "--OutputColourSpaceConvert=GBRtoRGB"]

    def encode(self, image: np.ndarray, rate: float, roi=None) -> bytes:
        encoder, _ = self.binaries()
        h, w = image.shape[:2]
        with tempfile.TemporaryDirectory(prefix="bench-vtm-") as tmp:
            raw, bitstream = Path(tmp, "in.rgb"), Path(tmp, "out.bin")
            raw.write_bytes(planar_rgb(image))
            proc = run(self.encoder_command(encoder, str(raw), str(bitstream), w, h, rate), cwd=tmp)
            if not parse_encoder_log(proc.stdout.decode(errors="replace")):
                raise CodecError("EncoderApp finished without reporting a coded picture")
            return bitstream.read_bytes()

    def decode(self, data: bytes) -> np.ndarray:
        _, decoder = self.binaries()
        width, height = annexb_size(data, "vvc")
        with tempfile.TemporaryDirectory(prefix="bench-vtm-") as tmp:
            bitstream, recon = Path(tmp, "in.bin"), Path(tmp, "out.rgb")
            bitstream.write_bytes(data)
            run(self.decoder_command(decoder, str(bitstream), str(recon)), cwd=tmp)
            return from_planar_rgb(recon.read_bytes(), width, height)

    def versions(self) -> dict:
        encoder, _ = self.binaries()
        return {"vtm": version_line((encoder, "--help"), BANNER)}

    def describe(self) -> dict:
        return {**super().describe(), "config": self.config_info()}

    def warnings(self) -> list[str]:
        binary, config = self.versions()["vtm"], self.config_info()
        if config["vtm_version"] in (binary, "unknown") or binary == "unknown":
            return []
        return [f"vtm: EncoderApp is VTM {binary} but the configuration ({config['file']}) is VTM "
                f"{config['vtm_version']}'s; pass cfg=PATH to VTM {binary}'s cfg/{CONFIG_NAME} to code as it does"]

    def unavailable_here(self) -> str | None:
        return missing_binary((ENCODERS, DECODERS), ENV_VAR, self.dir)

    @classmethod
    def unavailable(cls) -> str | None:
        return missing_binary((ENCODERS, DECODERS), ENV_VAR)
