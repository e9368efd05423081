"""Network topology: layers of neurons joined by dense crossbars (networkx graph).

Layer 0 holds the inputs (ideal voltage sources, two wordlines per feature), layers
1..L-1 are hidden neurons, layer L is the output (two bitline nodes per class).
A dense crossbar joins every pair of adjacent layers; extra *skip* crossbars join
non-adjacent layers (p -> q with q > p + 1). The graph is validated once, on
construction, with errors naming the bad layer or edge. :func:`residual_skips` lists the
skip crossbars of the residual (ResNet-style) option.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ebana.errors import TopologyError
from ebana.local import LocalLayer

__all__ = ["Topology", "CrossbarSpec", "residual_skips", "MIN_RESIDUAL_HIDDEN", "LocalLayer", "connectivity_ties"]

MIN_RESIDUAL_HIDDEN = 3
"""Fewest hidden layers a residual network can have: one block p -> p+1 -> p+2 of hidden layers."""


def residual_skips(n_hidden: int) -> tuple[tuple[int, int], ...]:
    """Skip crossbars (p, p + 2) of a residual network with ``n_hidden`` hidden layers (1..n_hidden).

    ResNet blocks, not overlapping: a block is two dense crossbars p -> p+1 -> p+2 and one skip
    crossbar p -> p+2 (the crossbar is trained like the others: a projection shortcut
    x_{p+2} = F(x_p) + W_s x_p, as the 1x1 skip convolution of the Hopfield-ResNet, seed 003).
    The blocks end at the last hidden layer, the one that feeds the output crossbar, so layer 1
    (behind the input crossbar) is the stem when the number of hidden layers is even:
    6 hidden layers -> (2, 4), (4, 6); 5 -> (1, 3), (3, 5); 3 -> (1, 3).

    Not included: skips from the input layer (the input crossbar is already the largest,
    2 x features rows, and it is the ResNet stem, which has no shortcut) and skips into the
    output layer (the output crossbar is the classifier head, as the final dense layer after the
    residual blocks). Every skip therefore leaves a hidden layer, which is an energy-based
    circuit only with reciprocal amplifiers (``cccs_gain == gain``, see
    :meth:`ebana.circuit.Circuit.layer_weights`). Widths may differ (the skip crossbar is
    hidden[p-1] x hidden[p+1]).
    """
    if n_hidden < MIN_RESIDUAL_HIDDEN:
        raise TopologyError(f"a residual network needs at least {MIN_RESIDUAL_HIDDEN} hidden layers "
                            f"(a block p -> p+2 of hidden layers), got {n_hidden}")
    first = 2 - n_hidden % 2
    return tuple((p, p + 2) for p in range(first, n_hidden - 1, 2))


@dataclass(frozen=True, slots=True)
class CrossbarSpec:
    """One crossbar: rows are the sources of layer ``src`` (+ bias rows), columns the nodes of ``dst``."""

    index: int
    src: int
    dst: int
    n_rows: int   # signal rows (2*features for the input layer, neurons for a hidden layer)
    n_bias: int   # extra bias rows driven by fixed DC sources
    n_cols: int   # neuron nodes of the destination layer

    @property
    def shape(self) -> tuple[int, int]:
        """(rows incl. bias, columns) of the conductance matrix."""
        return (self.n_rows + self.n_bias, self.n_cols)

    @property
    def label(self) -> str:
        return f"crossbar {self.index} (layer {self.src} -> layer {self.dst})"


@dataclass(frozen=True)
class Topology:
    """Layer sizes and crossbars of a layered EqProp network.

    Parameters
    ----------
    n_inputs : number of input features (each becomes two wordlines, x+ and x-).
    hidden : sizes of the hidden layers (may be empty).
    n_classes : number of classes (each becomes two output nodes, V+ and V-).
    skips : extra crossbars ``(p, q)`` between non-adjacent layers, ``q > p + 1``.
    n_bias_input, n_bias_hidden : bias rows on crossbars leaving the input / a hidden layer.
    local : ``(q, LocalLayer)`` pairs: the crossbar q-1 -> q into hidden layer q is locally
        connected / convolutional / pooling (:mod:`ebana.local`); its fixed mask and weight ties
        are ``ties[crossbar]``.
    masks : ``(p, q, mask)`` triples: crossbar p -> q has devices only where ``mask`` (bool, rows
        incl. bias x cols) is true, every device its own parameter (graph networks,
        :mod:`ebana.graphnet`: the blocks of the edges between named node groups of two layers);
        or ``mask`` is an int64 tie array (parameter index per device, -1: none): devices with one
        index are copies of one shared weight (a graph's convolutional edges).
    fixed : ``(p, q, cells)`` triples: the cells (bool) of crossbar p -> q that hold fixed devices
        at g_max, never trained (a graph's average-pooling edges).
    """

    n_inputs: int
    hidden: tuple[int, ...]
    n_classes: int
    skips: tuple[tuple[int, int], ...] = ()
    n_bias_input: int = 0
    n_bias_hidden: int = 0
    local: tuple[tuple[int, LocalLayer], ...] = ()
    masks: tuple[tuple[int, int, np.ndarray], ...] = field(default=(), compare=False, repr=False)
    fixed: tuple[tuple[int, int, np.ndarray], ...] = field(default=(), compare=False, repr=False)
    ties: dict = field(init=False, repr=False, compare=False)
    """crossbar index -> (rows, cols) int64 parameter index per device, -1: no device (local crossbars only)."""
    graph: nx.DiGraph = field(init=False, repr=False, compare=False)
    crossbars: tuple[CrossbarSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "skips", tuple((int(p), int(q)) for p, q in self.skips))
        sizes = [("input layer 0", self.n_inputs)]
        sizes += [(f"hidden layer {i + 1}", h) for i, h in enumerate(self.hidden)]
        sizes += [(f"output layer {len(self.hidden) + 1}", self.n_classes)]
        for name, size in sizes:
            if not isinstance(size, int) or size < 1:
                raise TopologyError(f"{name} has size {size!r}; every layer needs at least 1 unit")
        if self.n_classes < 2:
            raise TopologyError(f"output layer needs at least 2 classes, got {self.n_classes}")
        for what, n in (("n_bias_input", self.n_bias_input), ("n_bias_hidden", self.n_bias_hidden)):
            if n < 0:
                raise TopologyError(f"{what} must be >= 0, got {n}")
        g = nx.DiGraph()
        for layer in range(self.n_layers):
            g.add_node(layer, size=self.layer_size(layer))
        edges = [(p, p + 1) for p in range(self.n_layers - 1)]
        for p, q in self.skips:
            if not (0 <= p < self.n_layers and 0 <= q < self.n_layers):
                raise TopologyError(f"skip connection {p}->{q} names a layer outside 0..{self.n_layers - 1}")
            if q == p + 1:
                raise TopologyError(f"skip connection {p}->{q} joins adjacent layers (already a dense crossbar)")
            if q <= p:
                raise TopologyError(f"skip connection {p}->{q} points backwards (would make a cycle)")
            if (p, q) in edges:
                raise TopologyError(f"skip connection {p}->{q} is listed twice")
            edges.append((p, q))
        g.add_edges_from(edges)
        if not nx.is_directed_acyclic_graph(g):  # pragma: no cover - excluded above, kept as a guard
            raise TopologyError(f"the layer graph has a cycle: {nx.find_cycle(g)}")
        if not nx.has_path(g, 0, self.n_layers - 1):  # pragma: no cover
            raise TopologyError("the output layer is not reachable from the input layer")
        specs = []
        for i, (p, q) in enumerate(sorted(edges, key=lambda e: (e[1], e[0]))):
            rows = 2 * self.n_inputs if p == 0 else self.hidden[p - 1]
            bias = self.n_bias_input if p == 0 else self.n_bias_hidden
            specs.append(CrossbarSpec(i, p, q, rows, bias, self.layer_size(q)))
            g.edges[p, q]["crossbar"] = i
        object.__setattr__(self, "graph", g)
        object.__setattr__(self, "crossbars", tuple(specs))
        object.__setattr__(self, "ties", self._local_ties())

    def _local_ties(self) -> dict:
        """The tie arrays of the local crossbars, each checked against its layer sizes."""
        ties = {}
        for q, layer in self.local:
            if not 1 <= q < self.output_layer:
                raise TopologyError(f"local layer {layer.text!r} targets layer {q}; only hidden layers "
                                    f"1..{self.output_layer - 1} can be locally connected")
            spec = next(c for c in self.crossbars if c.src == q - 1 and c.dst == q)
            if layer.n_rows != spec.n_rows or layer.n_out != spec.n_cols:
                raise TopologyError(f"local layer {layer.text!r} on {spec.label}: needs {layer.n_rows} rows -> "
                                    f"{layer.n_out} columns, the crossbar has {spec.n_rows} -> {spec.n_cols}")
            if layer.differential != (q == 1):
                raise TopologyError(f"local layer {layer.text!r} on {spec.label}: differential must be "
                                    f"{q == 1} (true only for the input layer)")
            tie = layer.ties(spec.n_bias)
            tie.setflags(write=False)
            ties[spec.index] = tie
        for p, q, mask in self.masks:
            spec = next((c for c in self.crossbars if c.src == p and c.dst == q), None)
            if spec is None:
                raise TopologyError(f"connectivity mask for crossbar {p}->{q}: the network has no such crossbar")
            if spec.index in ties:
                raise TopologyError(f"{spec.label} has two connectivity masks")
            ties[spec.index] = connectivity_ties(spec, mask)
        for p, q, cells in self.fixed:
            spec = next((c for c in self.crossbars if c.src == p and c.dst == q), None)
            tie = None if spec is None else ties.get(spec.index)
            if tie is None or np.shape(cells) != tie.shape or np.any(np.asarray(cells) & (tie < 0)):
                raise TopologyError(f"fixed cells of crossbar {p}->{q}: they must lie on the crossbar's mask")
        return ties

    def fixed_cells(self, crossbar: int) -> np.ndarray | None:
        """The cells (bool) of crossbar ``crossbar`` that hold fixed g_max devices, never trained
        (average pooling); None: none."""
        if not self.trainable(crossbar):
            return self.ties[crossbar] >= 0
        spec = self.crossbars[crossbar]
        cells = [np.asarray(m, dtype=bool) for p, q, m in self.fixed if (p, q) == (spec.src, spec.dst)]
        return cells[0] if cells else None

    def mask(self, crossbar: int) -> np.ndarray | None:
        """Where crossbar ``crossbar`` has devices (bool, rows x cols); None: dense (every cell)."""
        tie = self.ties.get(crossbar)
        return None if tie is None else tie >= 0

    def n_devices(self, crossbar: int) -> int:
        """Devices of crossbar ``crossbar``: its cells, or its mask's cells when it has one."""
        mask = self.mask(crossbar)
        return int(np.prod(self.crossbars[crossbar].shape)) if mask is None else int(mask.sum())

    def n_parameters(self, crossbar: int) -> int:
        """Trained parameters of crossbar ``crossbar``: its cells, or its mask's distinct parameter
        indices (shared conv copies once) without its fixed pooling cells."""
        tie, fixed = self.ties.get(crossbar), self.fixed_cells(crossbar)
        if tie is None:
            return int(np.prod(self.crossbars[crossbar].shape))
        return len(np.unique(tie[(tie >= 0) if fixed is None else (tie >= 0) & ~fixed]))

    def trainable(self, crossbar: int) -> bool:
        """False for a fixed-conductance crossbar (average pooling)."""
        layer = self.local_layer(crossbar)
        return layer is None or layer.trainable

    def local_layer(self, crossbar: int) -> LocalLayer | None:
        spec = self.crossbars[crossbar]
        return next((lay for q, lay in self.local if spec.dst == q and spec.src == q - 1), None)

    @property
    def n_layers(self) -> int:
        """Number of layers including input and output."""
        return len(self.hidden) + 2

    @property
    def output_layer(self) -> int:
        return self.n_layers - 1

    def layer_size(self, layer: int) -> int:
        """Number of circuit nodes (sources for layer 0) of a layer."""
        if layer == 0:
            return 2 * self.n_inputs
        if layer == self.output_layer:
            return 2 * self.n_classes
        return self.hidden[layer - 1]

    def incoming(self, layer: int) -> list[CrossbarSpec]:
        return [c for c in self.crossbars if c.dst == layer]

    def outgoing(self, layer: int) -> list[CrossbarSpec]:
        return [c for c in self.crossbars if c.src == layer]

    def describe(self) -> str:
        kinds = {q: lay.text for q, lay in self.local}
        parts = [f"{self.n_inputs}x2"] + [f"{h}({kinds[i + 1]})" if i + 1 in kinds else str(h)
                                          for i, h in enumerate(self.hidden)] + [f"{self.n_classes}x2"]
        s = "-".join(parts)
        if self.skips:
            s += " skips " + ",".join(f"{p}->{q}" for p, q in self.skips)
        if self.masks:
            s += " masked " + ",".join(f"{p}->{q}" for p, q, _ in self.masks)
        return s


def connectivity_ties(spec: CrossbarSpec, mask: np.ndarray) -> np.ndarray:
    """The tie array (rows, cols) int64 of a masked crossbar: every device its own parameter
    (its flat cell index), -1 where ``mask`` (bool, ``spec.shape``) has no device; an integer
    ``mask`` is a tie array already (checked: indices >= 0 or -1) and is kept."""
    mask = np.asarray(mask)
    if mask.shape != spec.shape:
        raise TopologyError(f"connectivity mask of {spec.label} has shape {mask.shape}, the crossbar {spec.shape}")
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.integer) or mask.min() < -1:
            raise TopologyError(f"connectivity mask of {spec.label}: a tie array holds parameter indices >= 0 "
                                f"or -1 (no device)")
        if mask.max() < 0:
            raise TopologyError(f"connectivity mask of {spec.label} has no device")
        tie = mask.astype(np.int64, copy=True)
        tie.setflags(write=False)
        return tie
    if not mask.any():
        raise TopologyError(f"connectivity mask of {spec.label} has no device")
    tie = np.where(mask, np.arange(mask.size).reshape(mask.shape), -1).astype(np.int64)
    tie.setflags(write=False)
    return tie
