"""Timestep maps t (one integer DDIM step count per latent pixel) for the region-adaptive codec:
coded losslessly in their own stream, and drawn at random for training.

- encode_map / decode_map: raw DEFLATE (zlib, no header or checksum) of the uint8 map; a
  constant map costs 1 byte + 1 byte for its value; the container carries the bytes, so they
  count in bpp;
- random_map: the paper's training maps (section 5, fig. 3b): rectangles, circles, grid
  cells or Voronoi cells of random t on a constant canvas; a constant map with probability
  0.15.
"""

from __future__ import annotations

import zlib

import numpy as np

CONSTANT, DEFLATE = 0, 1
SHAPES = ("rectangles", "circles", "grid", "voronoi")


def encode_map(t: np.ndarray) -> bytes:
    t = np.asarray(t)
    if t.min() < 0 or t.max() > 255 or not np.array_equal(t, np.rint(t)):
        raise ValueError("a timestep map holds integers 0..255")
    if t.min() == t.max():
        return bytes([CONSTANT, int(t.flat[0])])
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return bytes([DEFLATE]) + packer.compress(t.astype(np.uint8).tobytes()) + packer.flush()


def decode_map(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    if data[0] == CONSTANT:
        return np.full(shape, data[1], dtype=np.int64)
    raw = zlib.decompress(data[1:], -15)
    if len(raw) != shape[0] * shape[1]:
        raise ValueError(f"timestep map stream holds {len(raw)} values, expected {shape[0]}x{shape[1]}")
    return np.frombuffer(raw, np.uint8).reshape(shape).astype(np.int64)


def random_map(h: int, w: int, rng: np.random.Generator, t_min: int = 1, t_max: int = 50,
               p_constant: float = 0.15, max_regions: int = 6) -> np.ndarray:
    canvas = np.full((h, w), rng.integers(t_min, t_max + 1), dtype=np.int64)
    if rng.random() < p_constant:
        return canvas
    shape = SHAPES[rng.integers(len(SHAPES))]
    yy, xx = np.mgrid[0:h, 0:w]
    if shape == "grid":
        rows, cols = rng.integers(2, 5, size=2)
        cell = (yy * rows // h) * cols + (xx * cols // w)
        values = rng.integers(t_min, t_max + 1, size=rows * cols)
        return values[cell]
    if shape == "voronoi":
        n = rng.integers(2, max_regions + 1)
        seeds = rng.random((n, 2)) * (h, w)
        nearest = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, axis=-1)
        return rng.integers(t_min, t_max + 1, size=n)[nearest]
    for _ in range(rng.integers(1, max_regions + 1)):
        value = rng.integers(t_min, t_max + 1)
        cy, cx = rng.random() * h, rng.random() * w
        if shape == "circles":
            r = (0.1 + 0.3 * rng.random()) * min(h, w)
            canvas[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value
        else:
            hh, ww = (0.1 + 0.4 * rng.random()) * h, (0.1 + 0.4 * rng.random()) * w
            canvas[(abs(yy - cy) <= hh / 2) & (abs(xx - cx) <= ww / 2)] = value
    return canvas
