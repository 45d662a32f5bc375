"""Random region maps, as the ROI paper trains with (Sec. 5 "Training", Fig. 3b):
rectangular, circular, grid or Voronoi regions of random importance levels placed on a
constant canvas; with probability 0.15 the map is constant. Region shape, number of
regions and each region's level are random, drawn from the per-image seeded generator.

Levels are importance values in [0, 1] (a codec maps them to its own knob, e.g. the
paper's timestep t, with bench.masks.levels). A region's level always differs from the
canvas level, and a map is never all zero (ROI metrics need some ROI).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...errors import BenchError
from .base import MaskGenerator, Param, register_generator

SHAPES = ("rect", "circle", "grid", "voronoi")

COMMON = {
    "levels": Param(5, "number of evenly spaced importance levels in [0, 1] (>= 2)"),
    "max_regions": Param(6, "most regions (rect/circle) or lit cells (grid/voronoi) per map"),
}


def _level_set(n: int) -> np.ndarray:
    if n < 2:
        raise BenchError(f"random region maps: levels must be >= 2, got {n}")
    return np.linspace(0.0, 1.0, n)


def _canvas(shape: tuple[int, int], rng: np.random.Generator, levels: np.ndarray) -> tuple[np.ndarray, float]:
    c = float(rng.choice(levels))
    return np.full(shape, c, dtype=np.float32), c


def _region_level(rng: np.random.Generator, levels: np.ndarray, canvas: float) -> float:
    return float(rng.choice(levels[levels != canvas]))


def _rects(m, rng, levels, canvas, n):
    h, w = m.shape
    for _ in range(n):
        rh, rw = rng.uniform(0.1, 0.6) * h, rng.uniform(0.1, 0.6) * w
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        y0, y1 = int(max(0, cy - rh / 2)), int(min(h, cy + rh / 2)) + 1
        x0, x1 = int(max(0, cx - rw / 2)), int(min(w, cx + rw / 2)) + 1
        m[y0:y1, x0:x1] = _region_level(rng, levels, canvas)


def _circles(m, rng, levels, canvas, n):
    h, w = m.shape
    yy, xx = np.ogrid[0:h, 0:w]
    for _ in range(n):
        r = rng.uniform(0.05, 0.35) * min(h, w)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        m[(yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= r * r] = _region_level(rng, levels, canvas)


def _light_cells(m, labels, n_cells, rng, levels, canvas, n):
    lit = rng.choice(n_cells, size=min(n, n_cells), replace=False)
    for cell in lit:
        m[labels == cell] = _region_level(rng, levels, canvas)


def _grid(m, rng, levels, canvas, n):
    h, w = m.shape
    rows, cols = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    ry = np.minimum(np.arange(h) * rows // h, rows - 1)
    rx = np.minimum(np.arange(w) * cols // w, cols - 1)
    labels = ry[:, None] * cols + rx[None, :]
    _light_cells(m, labels, rows * cols, rng, levels, canvas, int(rng.integers(1, n + 1)))


def _voronoi(m, rng, levels, canvas, n):
    from scipy.spatial import cKDTree
    h, w = m.shape
    k = int(rng.integers(3, 3 * n + 1))
    seeds = np.column_stack([rng.uniform(0, h, k), rng.uniform(0, w, k)])
    yy, xx = np.mgrid[0:h, 0:w]
    _, labels = cKDTree(seeds).query(np.column_stack([yy.ravel() + 0.5, xx.ravel() + 0.5]))
    _light_cells(m, labels.reshape(h, w), k, rng, levels, canvas, int(rng.integers(1, n + 1)))


DRAW = {"rect": _rects, "circle": _circles, "grid": _grid, "voronoi": _voronoi}


def random_region_map(shape: tuple[int, int], rng: np.random.Generator, kind: str,
                      levels: int, max_regions: int) -> np.ndarray:
    if max_regions < 1:
        raise BenchError(f"random region maps: max_regions must be >= 1, got {max_regions}")
    lv = _level_set(levels)
    if kind == "constant":
        return np.full(shape, float(rng.choice(lv[lv > 0])), dtype=np.float32)
    m, canvas = _canvas(shape, rng, lv)
    n = int(rng.integers(1, max_regions + 1))
    DRAW[kind](m, rng, lv, canvas, n)
    if not m.any():     # canvas 0 and every region drawn off-image: keep one region visible
        m.flat[rng.integers(m.size)] = float(lv[-1])
    return m


class _RandomShape(MaskGenerator):
    family = "random-regions"
    shape_kind: ClassVar[str]
    params = dict(COMMON)

    def generate(self, image: np.ndarray, rng: np.random.Generator, **p: Any) -> np.ndarray:
        return random_region_map(image.shape[:2], rng, self.shape_kind, p["levels"], p["max_regions"])


def _shape_generator(kind: str) -> type[MaskGenerator]:
    cls = type(f"Random{kind.title()}", (_RandomShape,), {
        "name": f"random-{kind}", "shape_kind": kind,
        "description": f"graded: random {kind} regions of random levels on a constant canvas"})
    return register_generator(cls)


for _kind in SHAPES:
    _shape_generator(_kind)


@register_generator
class RandomMix(MaskGenerator):
    """The paper's training distribution: constant with probability p_constant, else one
    of the four region shapes chosen uniformly."""
    name = "random"
    family = "random-regions"
    description = ("graded: the ROI paper's training maps (constant with p=0.15, else "
                   "rect/circle/grid/voronoi regions on a constant canvas)")
    params = {**COMMON, "p_constant": Param(0.15, "probability of a spatially constant map")}

    def generate(self, image: np.ndarray, rng: np.random.Generator, **p: Any) -> np.ndarray:
        kind = "constant" if rng.random() < p["p_constant"] else SHAPES[int(rng.integers(len(SHAPES)))]
        return random_region_map(image.shape[:2], rng, kind, p["levels"], p["max_regions"])
