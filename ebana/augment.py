"""Training-set augmentation of images: random integer translations.

Each training image (square, ``side × side`` pixels in [0, 1], background 0) is shifted by
(dy, dx) drawn uniformly from {-s, …, s}² per sample and batch, the vacated pixels filled with
0 (the background, i.e. 0 V above the input shift). The draw comes from a generator seeded by
(run seed, epoch, batch), so a resumed run sees exactly the same images. Test images are never
shifted. This is a training-recipe choice, not circuit physics: results that use it say so.
"""

from __future__ import annotations

import math

import numpy as np

from ebana.errors import ConfigError

__all__ = ["image_side", "shift_images"]


def image_side(n_features: int, encoding: str, shift: int) -> int:
    """Side (pixels) of the square images a shift augmentation needs; one-line error otherwise."""
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ConfigError(f"augment_shift = {shift} needs square images; the dataset has {n_features} features")
    if encoding != "none":
        raise ConfigError(f"augment_shift = {shift} needs encoding = 'none' (images in [0, 1], background 0), "
                          f"got encoding = {encoding!r}")
    if not 0 < shift < side:
        raise ConfigError(f"augment_shift must be in [0, {side - 1}] pixels for {side}x{side} images, got {shift}")
    return side


def shift_images(x: np.ndarray, side: int, shift: int, seed: tuple[int, ...]) -> np.ndarray:
    """``x`` (n, side²) with every image translated by its own random (dy, dx) in [-shift, shift]²."""
    n = len(x)
    rng = np.random.default_rng(seed)
    dy, dx = rng.integers(-shift, shift + 1, size=(2, n))
    pad = np.zeros((n, side + 2 * shift, side + 2 * shift), dtype=x.dtype)
    pad[:, shift:shift + side, shift:shift + side] = x.reshape(n, side, side)
    ar = np.arange(side)
    rows = (ar[None, :] + shift - dy[:, None])[:, :, None]
    cols = (ar[None, :] + shift - dx[:, None])[:, None, :]
    return pad[np.arange(n)[:, None, None], rows, cols].reshape(n, side * side)
