"""Locally connected, convolutional and average-pooling crossbars: a crossbar with a fixed mask.

A locally connected 2-D layer maps an image of shape (H, W, C) (row-major, feature index
``(y * W + x) * C + c``) to neurons of shape (H', W', F) (index ``(y' * W' + x') * F + f``). In a
crossbar it is a dense array with a **fixed connectivity mask**: a device exists only at
(source row, neuron column) pairs inside the receptive field (k x k pixels, all C channels,
stride s, ``valid`` or ``same`` padding as Keras/TensorFlow: same pads (H'-1) s + k - H pixels,
the smaller half at the top/left). An absent cell is an open circuit: G = 0 S exactly, no
resistor in the netlist, no current, no energy term and no gradient. Padding is therefore "no
device", not "a 0 V input". Bias rows (fixed DC sources) reach every column.

The input layer drives two wordlines per pixel (x+ block, then x- block): both are masked alike
and are two separate parameters (G+, G-) per kernel weight.

``conv`` is the same layer with **weight sharing**: each kernel weight (ky, kx, c, f) (and each
bias row's weight per filter) is one trainable parameter realised by identical devices in every
tile position. The energy depends on the parameter theta through all its copies G = theta, so
dL/dtheta = sum over copies of dL/dG (:func:`tie_gradient`); ideal updates give every copy the
same gradient and keep them equal. ``avg`` pooling (p x p windows, stride p by default) is a
fixed-conductance crossbar: channel c of each window to channel c of its pooled neuron, every
device at g_max, not trained.

The tie array of a crossbar, (rows, cols) int64: the parameter index of each device, -1 where
there is none. A locally connected layer numbers every device on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ebana.errors import ConfigError

__all__ = ["LocalLayer", "parse_items", "parse_local", "chain", "tie_gradient", "share", "KINDS"]

KINDS = ("conv", "local", "avg")
"""conv: shared kernel; local: locally connected (unshared); avg: fixed average pooling."""

_ITEM = re.compile(r"(conv|local)(\d+)k(\d+)(?:s(\d+))?(valid|same)?|(avg)(\d+)(?:s(\d+))?(valid|same)?")
_SHAPE = re.compile(r"(\d+)x(\d+)x(\d+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalLayer:
    """One locally connected / convolutional / pooling crossbar.

    Parameters
    ----------
    kind : "conv" (shared), "local" (unshared) or "avg" (fixed pooling, ``filters`` = C).
    in_shape : (H, W, C) of the source neurons (pixels for the input layer).
    filters : output channels F.
    kernel, stride : window size and step (pixels).
    padding : "valid" (windows inside the image) or "same" (H' = ceil(H / s)).
    differential : the source is the input layer (two wordlines per pixel).
    """

    kind: Literal["conv", "local", "avg"]
    in_shape: tuple[int, int, int]
    filters: int
    kernel: int
    stride: int = 1
    padding: Literal["valid", "same"] = "valid"
    differential: bool = False

    def __post_init__(self) -> None:
        h, w, c = self.in_shape
        if min(h, w, c) < 1:
            raise ConfigError(f"conv: input shape {h}x{w}x{c} needs every dimension >= 1")
        if self.kernel < 1 or self.stride < 1 or self.filters < 1:
            raise ConfigError(f"conv: {self.text!r} needs kernel, stride and filters >= 1")
        if self.padding == "valid" and self.kernel > min(h, w):
            raise ConfigError(f"conv: {self.text!r}: kernel {self.kernel} is larger than its {h}x{w} input "
                              f"(valid padding); use a smaller kernel or 'same'")
        if self.kind == "avg" and self.differential:
            raise ConfigError(f"conv: {self.text!r}: average pooling cannot read the input wordlines "
                              f"(x+ and x-); put a conv or local layer first")
        if self.kind == "avg" and self.filters != c:
            raise ConfigError(f"conv: {self.text!r}: pooling keeps the {c} channels, got filters {self.filters}")

    @property
    def text(self) -> str:
        """The spec item this layer was parsed from (e.g. ``conv8k5s2valid``)."""
        if self.kind == "avg":
            return f"avg{self.kernel}s{self.stride}{self.padding}"
        return f"{self.kind}{self.filters}k{self.kernel}s{self.stride}{self.padding}"

    @property
    def trainable(self) -> bool:
        return self.kind != "avg"

    def _out_pad(self, n: int) -> tuple[int, int]:
        """(output size, padding before) along one axis of n pixels."""
        k, s = self.kernel, self.stride
        if self.padding == "valid":
            return (n - k) // s + 1, 0
        out = math.ceil(n / s)
        return out, max((out - 1) * s + k - n, 0) // 2

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self._out_pad(self.in_shape[0])[0], self._out_pad(self.in_shape[1])[0], self.filters)

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def n_rows(self) -> int:
        """Signal rows of the crossbar: one per source neuron, two per pixel for the inputs."""
        return int(np.prod(self.in_shape)) * (2 if self.differential else 1)

    def ties(self, n_bias: int) -> np.ndarray:
        """Parameter index (rows incl. n_bias bias rows, cols) int64 of every device, -1: none."""
        h, w, c = self.in_shape
        ho, wo, f = self.out_shape
        k = self.kernel
        (_, pt), (_, pl) = self._out_pad(h), self._out_pad(w)
        oy, ox, ky, kx, ci, fo = np.meshgrid(np.arange(ho), np.arange(wo), np.arange(k), np.arange(k),
                                             np.arange(c), np.arange(f), indexing="ij")
        iy, ix = oy * self.stride - pt + ky, ox * self.stride - pl + kx
        ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        if self.kind == "avg":
            ok &= ci == fo
        iy, ix, ci, fo, oy, ox, ky, kx = (a[ok] for a in (iy, ix, ci, fo, oy, ox, ky, kx))
        row = (iy * w + ix) * c + ci
        col = (oy * wo + ox) * f + fo
        n_pix = h * w * c
        tie = -np.ones((self.n_rows + (0 if self.kind == "avg" else n_bias), self.n_out), dtype=np.int64)
        if self.kind == "avg":
            tie[row, col] = 0
            return np.pad(tie, ((0, n_bias), (0, 0)), constant_values=-1)
        blocks = 2 if self.differential else 1
        if self.kind == "conv":
            kernel_id = ((ky * k + kx) * c + ci) * f + fo
            n_k = k * k * c * f
            for b in range(blocks):
                tie[row + b * n_pix, col] = kernel_id + b * n_k
            base = blocks * n_k
            bias_id = base + np.arange(n_bias)[:, None] * f + (np.arange(self.n_out) % f)[None, :]
        else:
            n_dev = row.size
            for b in range(blocks):
                tie[row + b * n_pix, col] = np.arange(n_dev) + b * n_dev
            base = blocks * n_dev
            bias_id = base + np.arange(n_bias * self.n_out).reshape(n_bias, self.n_out)
        tie[self.n_rows:] = bias_id
        return tie


def parse_items(value: str) -> tuple[tuple[int, int, int] | None, list[tuple]]:
    """Syntax of the ``conv`` key: (input shape or None, [(kind, filters, kernel, stride, padding)]).

    Comma-separated items, an optional ``HxWxC`` first: ``conv<F>k<K>[s<S>][valid|same]`` (shared
    kernel), ``local<F>k<K>[s<S>][valid|same]`` (locally connected), ``avg<P>[s<S>][valid|same]``
    (average pooling, stride P by default). ConfigError naming ``conv`` and the bad text otherwise.
    """
    items = [s.strip() for s in value.split(",")]
    if any(items) and not all(items):   # "a,,b" (all empty: no layer, below)
        raise ConfigError(f"conv {value!r}: item {items.index('') + 1} is empty; expected comma-separated items "
                          f"like conv8k5s2,avg2")
    items = [s for s in items if s]
    shape = None
    if items and _SHAPE.fullmatch(items[0]):
        shape = tuple(int(v) for v in _SHAPE.fullmatch(items[0]).groups())
        if min(shape) < 1:
            raise ConfigError(f"conv {value!r}: input shape {items[0]!r} needs every dimension >= 1")
        items = items[1:]
    if not items:
        raise ConfigError(f"conv {value!r}: no layer; expected items like conv8k5s2, local4k3same, avg2")
    specs = []
    for item in items:
        m = _ITEM.fullmatch(item)
        if not m:
            raise ConfigError(f"conv {value!r}: cannot read {item!r}; expected conv<F>k<K>[s<S>][valid|same], "
                              f"local<F>k<K>[s<S>][valid|same] or avg<P>[s<S>] (e.g. conv8k5s2, avg2)")
        if m.group(1):
            spec = (m.group(1), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5) or "valid")
        else:
            spec = ("avg", 1, int(m.group(7)), m.group(8) or m.group(7), m.group(9) or "valid")
        for what, v in (("filters", spec[1]), ("kernel", spec[2]), ("stride", spec[3] or 1)):
            if int(v) < 1:
                raise ConfigError(f"conv {value!r}: {what} {int(v)} in {item!r} must be >= 1")
        specs.append(spec)
    return shape, specs


def parse_local(value: str, n_features: int) -> list[LocalLayer]:
    """The layers of the ``conv`` key (:func:`parse_items`) on ``n_features`` inputs; without a
    shape the input is a square single-channel image. ConfigError naming ``conv`` otherwise."""
    shape, specs = parse_items(value)
    if shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ConfigError(f"conv {value!r}: {n_features} input features are not a square image; "
                              f"start the spec with the input shape, e.g. '28x28x1,conv8k5s2'")
        shape = (side, side, 1)
    if int(np.prod(shape)) != n_features:
        raise ConfigError(f"conv {value!r}: input shape {'x'.join(map(str, shape))} has "
                          f"{int(np.prod(shape))} values, the data has {n_features} features")
    return chain(specs, shape)


def chain(specs: list[tuple], in_shape: tuple[int, int, int]) -> list[LocalLayer]:
    """LocalLayers from (kind, filters, kernel, stride, padding) tuples, each fed by the previous
    (the first by the input layer); stride None or "" means 1 (avg: the kernel)."""
    out: list[LocalLayer] = []
    shape = tuple(in_shape)
    for n, (kind, filters, kernel, stride, padding) in enumerate(specs):
        stride = int(stride) if stride not in (None, "") else (kernel if kind == "avg" else 1)
        layer = LocalLayer(kind=kind, in_shape=shape, filters=shape[2] if kind == "avg" else filters,
                           kernel=kernel, stride=stride, padding=padding, differential=n == 0)
        out.append(layer)
        shape = layer.out_shape
    return out


def tie_gradient(tie: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """dL/dtheta at every device of a tied crossbar: the sum of ``grad`` (rows, cols) over the
    copies of each parameter, placed at each copy; 0 where there is no device (tie = -1)."""
    mask = tie >= 0
    ids = tie[mask]
    sums = np.bincount(ids, weights=grad[mask], minlength=int(ids.max(initial=-1)) + 1)
    out = np.zeros_like(grad, dtype=np.float64)
    out[mask] = sums[ids]
    return out


def share(tie: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Conductances (S) with every copy of a parameter set to its first copy's value (row-major
    order) and 0 S where there is no device."""
    mask = tie >= 0
    ids = tie[mask]
    uniq, first = np.unique(ids, return_index=True)
    value = np.full(int(ids.max(initial=-1)) + 1, np.nan)
    value[uniq] = g[mask][first]
    out = np.zeros_like(g, dtype=np.float64)
    out[mask] = value[ids]
    return out
