"""Build the SDE codec's `paper` config, print its parameter count beside the paper's
173.457M (appendix C), and run one training step of each stage on a small batch.

The KL-f4 autoencoder's weights are not available here: the script saves a randomly
initialised AutoencoderKL of the KL-f4 architecture with save_pretrained() into a
temporary folder and builds the config from it (the sizes are real, the weights are not).

    python scripts/sde_paper_config.py [--batch 1] [--crop 64] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

PAPER_TOTAL = 173.457e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch
    from diffusers import AutoencoderKL

    from bench.codec.registry import CODECS
    from bench.diffusion.denoisers import parameter_count
    from bench.train.loop import parameter_summary

    cls = CODECS.load("sde")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "kl-f4"
        torch.manual_seed(0)
        AutoencoderKL(block_out_channels=(128, 256, 512), down_block_types=("DownEncoderBlock2D",) * 3,
                      up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=3,
                      layers_per_block=2).save_pretrained(folder)
        config = cls.load_config("paper", [f"autoencoder.path={folder}"])
        model = cls.build_model(config).to(args.device)
        total = sum(parameter_count(m) for m in (model.entropy, model.denoiser, model.autoencoder.net))
        print(parameter_summary(model))
        print(f"paper (appendix C): 173.457M; this config: {total / 1e6:.3f}M "
              f"({100 * (total - PAPER_TOTAL) / PAPER_TOTAL:+.2f} %; the U-Net's widths are unstated)")
        x = torch.rand(args.batch, 3, args.crop, args.crop, device=args.device)
        model.train()
        for stage in config["train"]["stages"]:
            opt = torch.optim.AdamW(model.trainable(stage), lr=stage["lr"], betas=(0.9, 0.95), weight_decay=0.02)
            t0 = time.perf_counter()
            loss, terms = model.loss(stage, x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            shown = ", ".join(f"{k} {float(v):.4g}" for k, v in terms.items())
            print(f"stage {stage['name']}: one step on {args.batch}x3x{args.crop}x{args.crop} in "
                  f"{time.perf_counter() - t0:.1f} s, loss {loss.item():.4g} ({shown})")


if __name__ == "__main__":
    main()
