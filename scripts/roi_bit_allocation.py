"""Where an ROI codec's bits go: per image, the entropy model's bits per latent pixel inside
the ROI and in the background (the region-adaptive paper's fig. 9/15), with the timestep map
the codec builds from the mask. Bits are -log2 p of each latent element summed over channels
(what the rANS coder reaches to within a few bytes); the hyper latent and the map stream are
shared by the whole image and left out.

    python scripts/roi_bit_allocation.py --codec roi-diffusion:checkpoint=DIR --rates 5 8 \
        [--dataset kodak] [--masks kodak-saliency] [--images 24]
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    import torch

    from bench.codec.registry import make_codec
    from bench.datasets.resolve import resolve_dataset
    from bench.image import load_rgb
    from bench.masks.levels import pool_to_latent
    from bench.masks.pairing import load_mask, pair_masks

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", required=True)
    ap.add_argument("--rates", type=int, nargs="+", default=[5])
    ap.add_argument("--dataset", default="kodak")
    ap.add_argument("--masks", default="kodak-saliency")
    ap.add_argument("--images", type=int, default=0, help="the first N images (0: all)")
    args = ap.parse_args()

    codec = make_codec(args.codec)
    codec.load("cpu")
    dataset = resolve_dataset(args.dataset)
    images = dataset.images[: args.images or None]
    _, masks = pair_masks(args.masks, [i.name for i in images])
    print(f"{args.codec} on {dataset.name} with masks {args.masks}: bits per latent pixel (all channels)")
    print(f"{'image':>8} {'t':>3} {'t_bg':>4} {'ROI':>7} {'bg':>7} {'ratio':>6} {'bpp':>6}")
    ratios: dict[int, list[float]] = {r: [] for r in args.rates}
    for item in images:
        image = load_rgb(item.path)
        mask = load_mask(masks[item.name].path, image.shape[:2])
        x = codec._pad([image])
        roi = codec._pad_rois([mask], x.shape[-2:])[0]
        for rate in args.rates:
            net = codec.model(rate).net
            f = net.autoencoder.factor
            t_map = codec.timestep_map(roi, rate, (x.shape[-2] // f, x.shape[-1] // f), f)
            with torch.no_grad():
                bits, z_bits = net.information(x, t_map, codec.noise_seed)
            per_pixel = bits.sum(1)[0].numpy()
            inside = pool_to_latent(roi, f) >= 0.5
            r, b = per_pixel[inside].mean(), per_pixel[~inside].mean()
            ratios[rate].append(r / b)
            bpp = (bits.sum().item() + z_bits) / (image.shape[0] * image.shape[1])
            print(f"{item.name:>8} {rate:>3} {int(t_map.max()):>4} {r:7.3f} {b:7.3f} {r / b:6.2f} {bpp:6.4f}")
    for rate, rs in ratios.items():
        print(f"t={rate}: ROI/background bits per latent pixel, median {np.median(rs):.2f} "
              f"(min {min(rs):.2f}, max {max(rs):.2f}) over {len(rs)} images; ROI above background in "
              f"{sum(x > 1 for x in rs)} of {len(rs)}")


if __name__ == "__main__":
    main()
